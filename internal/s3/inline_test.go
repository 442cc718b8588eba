package s3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/internal/s3"
)

// blobFiles counts the blobs of the object store (files, or RADOS heads).
func blobFiles(t *testing.T, e *env) int {
	t.Helper()
	if e.pool != nil {
		return e.pool.blobs(t)
	}
	n := 0
	err := filepath.WalkDir(filepath.Join(e.dataDir, "objects", "blobs"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInlineObjects: objects up to s3.InlineMax live in their metadata row,
// larger ones in blob files, and every operation reads, copies, replaces
// and deletes both alike, on both metadata engines.
func TestInlineObjects(t *testing.T) {
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) { inlineObjects(t, newEnvOn(t, backend)) })
	}
}

func inlineObjects(t *testing.T, e *env) {
	ctx := context.Background()
	// Default checksums: the SDK sends aws-chunked bodies with a CRC trailer.
	c := awsFor(e, e.a)
	mustCreate(t, c, "inline")
	b := aws.String("inline")
	get := func(key string, rng string) []byte {
		t.Helper()
		in := &awss3.GetObjectInput{Bucket: b, Key: aws.String(key)}
		if rng != "" {
			in.Range = aws.String(rng)
		}
		out, err := c.GetObject(ctx, in)
		return getBytes(t, out, err)
	}
	stored := func(key string) (blob string, inline []byte) {
		t.Helper()
		bk, err := e.store.BucketByName(ctx, "inline")
		if err != nil {
			t.Fatal(err)
		}
		o, err := e.store.GetObject(ctx, bk.ID, key)
		if err != nil {
			t.Fatal(err)
		}
		return o.BlobID, o.Inline
	}

	small := sseData(4096)
	files := blobFiles(t, e)
	put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("small"), Body: bytes.NewReader(small),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil {
		t.Fatal(err)
	}
	if sum := md5.Sum(small); *put.ETag != fmt.Sprintf(`"%x"`, sum) || aws.ToString(put.ChecksumCRC32C) == "" {
		t.Fatalf("put: etag %s crc32c %q", *put.ETag, aws.ToString(put.ChecksumCRC32C))
	}
	if n := blobFiles(t, e); n != files {
		t.Fatalf("a 4 KiB object made %d blob files", n-files)
	}
	if blob, inline := stored("small"); blob != "" || !bytes.Equal(inline, small) {
		t.Fatalf("stored as blob %q with %d inline bytes", blob, len(inline))
	}
	if got := get("small", ""); !bytes.Equal(got, small) {
		t.Fatal("inline object reads back different")
	}
	if got := get("small", "bytes=100-199"); !bytes.Equal(got, small[100:200]) {
		t.Fatal("inline range reads back different")
	}
	if got := get("small", "bytes=-10"); !bytes.Equal(got, small[len(small)-10:]) {
		t.Fatal("inline suffix range reads back different")
	}

	// The boundary: InlineMax bytes stay in the row, one more is a file.
	edge := sseData(s3.InlineMax)
	mustPut(t, c, "inline", "edge", edge)
	if blob, _ := stored("edge"); blob != "" || blobFiles(t, e) != files {
		t.Fatalf("an object of InlineMax bytes went to blob %q", blob)
	}
	over := sseData(s3.InlineMax + 1)
	mustPut(t, c, "inline", "over", over)
	if blob, inline := stored("over"); blob == "" || inline != nil || blobFiles(t, e) != files+1 {
		t.Fatalf("an object of InlineMax+1 bytes: blob %q, %d inline bytes", blob, len(inline))
	}
	if !bytes.Equal(get("edge", ""), edge) || !bytes.Equal(get("over", ""), over) {
		t.Fatal("objects at the boundary read back different")
	}

	// Empty objects are inline too.
	mustPut(t, c, "inline", "empty", nil)
	if blob, _ := stored("empty"); blob != "" {
		t.Fatalf("empty object went to blob %q", blob)
	}
	if got := get("empty", ""); len(got) != 0 {
		t.Fatalf("empty object reads %d bytes", len(got))
	}

	// Copies are independent of their source.
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("inline/small")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("small"), CopySource: aws.String("inline/small"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: b, Key: aws.String("small")})
	if err != nil || head.Metadata["k"] != "v" || *head.ContentLength != int64(len(small)) {
		t.Fatalf("head after copy onto itself: %v %+v", err, head)
	}
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String("small")}); err != nil {
		t.Fatal(err)
	}
	if got := get("copy", ""); !bytes.Equal(got, small) {
		t.Fatal("the copy of a deleted inline object reads back different")
	}

	// Replacing inline with a blob and back leaves no file behind.
	mustPut(t, c, "inline", "copy", over)
	if blob, _ := stored("copy"); blob == "" || blobFiles(t, e) != files+2 {
		t.Fatal("a large overwrite of an inline object is not a blob")
	}
	mustPut(t, c, "inline", "copy", small)
	if blob, _ := stored("copy"); blob != "" || blobFiles(t, e) != files+1 {
		t.Fatal("a small overwrite left the old blob or made a new one")
	}
	if !bytes.Equal(get("copy", ""), small) {
		t.Fatal("overwritten object reads back different")
	}

	// An inline object is a copy source for a part.
	up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := c.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(1),
		CopySource: aws.String("inline/copy"), CopySourceRange: aws.String("bytes=10-1033")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: pc.CopyPartResult.ETag}}}}); err != nil {
		t.Fatal(err)
	}
	if got := get("mp", ""); !bytes.Equal(got, small[10:1034]) {
		t.Fatal("a part copied from an inline object reads back different")
	}

	// Usage counts inline bytes like any others.
	bk, err := e.store.BucketByName(ctx, "inline")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(edge) + len(over) + len(small) + 1024); bk.Bytes != want || bk.Objects != 5 {
		t.Fatalf("usage %d bytes / %d objects, want %d / 5", bk.Bytes, bk.Objects, want)
	}
}

// TestInlineEncrypted: small encrypted objects are kept encrypted in their
// row, never as plaintext in the data directory (blobs, SQLite database and
// its journal), and read back with their keys.
func TestInlineEncrypted(t *testing.T) {
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newEnvOn(t, backend)
			ctx := context.Background()
			c := newAWS(e.tls.URL, e.a, &http.Client{Transport: e.tlsTransport()}, aws.RequestChecksumCalculationWhenRequired).c
			mustCreate(t, c, "sealed")
			b := aws.String("sealed")
			data := sseData(3000)
			probe := data[1000:1064]
			k := newCustomer(3)
			if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("s3"), Body: bytes.NewReader(data),
				ServerSideEncryption: types.ServerSideEncryptionAes256}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("c"), Body: bytes.NewReader(data),
				SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.key), SSECustomerKeyMD5: aws.String(k.md5)}); err != nil {
				t.Fatal(err)
			}
			bk, err := e.store.BucketByName(ctx, "sealed")
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"s3", "c"} {
				o, err := e.store.GetObject(ctx, bk.ID, key)
				if err != nil {
					t.Fatal(err)
				}
				if o.BlobID != "" || len(o.Inline) != len(data) || bytes.Contains(o.Inline, probe) {
					t.Fatalf("%s: blob %q, %d inline bytes, plaintext in the row %v", key, o.BlobID, len(o.Inline), bytes.Contains(o.Inline, probe))
				}
			}
			if stored(t, e, probe) {
				t.Fatal("plaintext found in the data directory")
			}
			out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("s3"), Range: aws.String("bytes=17-2049")})
			if got := getBytes(t, out, err); !bytes.Equal(got, data[17:2050]) {
				t.Fatal("sse-s3 inline range reads back different")
			}
			out, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("c"),
				SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.key), SSECustomerKeyMD5: aws.String(k.md5)})
			if got := getBytes(t, out, err); !bytes.Equal(got, data) {
				t.Fatal("sse-c inline object reads back different")
			}
			// Re-encrypting copy: SSE-C to plain stays inline and readable.
			if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("plain"), CopySource: aws.String("sealed/c"),
				CopySourceSSECustomerAlgorithm: aws.String("AES256"), CopySourceSSECustomerKey: aws.String(k.key), CopySourceSSECustomerKeyMD5: aws.String(k.md5)}); err != nil {
				t.Fatal(err)
			}
			out, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("plain")})
			if got := getBytes(t, out, err); !bytes.Equal(got, data) {
				t.Fatal("decrypted copy reads back different")
			}
		})
	}
}
