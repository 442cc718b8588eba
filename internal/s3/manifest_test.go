package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

// TestManifest: Complete leaves the parts where they were written and the
// object reads through its manifest (whole, by range across part
// boundaries, by ?partNumber, with aws-sdk-go-v2 and minio-go); a copy
// gets bytes of its own, a copy onto itself keeps the manifest, the orphan
// collector leaves the parts alone, and deleting the object (or one of its
// versions) frees every part, on both metadata engines.
func TestManifest(t *testing.T) {
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) { manifest(t, newEnvOn(t, backend)) })
	}
}

func manifest(t *testing.T, e *env) {
	ctx := context.Background()
	c := awsFor(e, e.a)
	mustCreate(t, c, "man")
	parts := [][]byte{randomBytes(t, 5<<20), randomBytes(t, 5<<20), randomBytes(t, 1234)}
	whole := bytes.Join(parts, nil)
	upload := func(k string) {
		t.Helper()
		up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("man"), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		var done []types.CompletedPart
		// Part 9 is uploaded but left out of the completion: its blob goes.
		for i, p := range append(parts, []byte("left out")) {
			n := int32(i + 1)
			if i == len(parts) {
				n = 9
			}
			out, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("man"), Key: aws.String(k), UploadId: up.UploadId,
				PartNumber: aws.Int32(n), Body: bytes.NewReader(p)})
			if err != nil {
				t.Fatalf("part %d: %v", n, err)
			}
			if i < len(parts) {
				done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
			}
		}
		if _, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("man"), Key: aws.String(k),
			UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(k string, rng *string, part *int32) []byte {
		t.Helper()
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("man"), Key: aws.String(k), Range: rng, PartNumber: part})
		if err != nil {
			t.Fatalf("get %s: %v", k, err)
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	usage := func() int64 {
		t.Helper()
		bs, err := e.store.ListBuckets(ctx, e.a.project)
		if err != nil || len(bs) != 1 {
			t.Fatalf("buckets %v %v", bs, err)
		}
		return bs[0].Bytes
	}
	check := func(k string) {
		t.Helper()
		if !bytes.Equal(get(k, nil, nil), whole) {
			t.Fatalf("%s: whole object differs", k)
		}
		b5 := int64(5 << 20)
		for _, r := range [][2]int64{{b5 - 10, b5 + 10}, {0, 0}, {2*b5 - 1, 2*b5 + 1233}, {b5, 2*b5 - 1}, {7, 2*b5 + 100}} {
			got := get(k, aws.String(fmt.Sprintf("bytes=%d-%d", r[0], r[1])), nil)
			if !bytes.Equal(got, whole[r[0]:r[1]+1]) {
				t.Fatalf("%s: range %v differs (%d bytes)", k, r, len(got))
			}
		}
		for i, p := range parts {
			if !bytes.Equal(get(k, nil, aws.Int32(int32(i+1))), p) {
				t.Fatalf("%s: part %d differs", k, i+1)
			}
		}
	}

	upload("obj")
	if n := blobFiles(t, e); n != len(parts) {
		t.Fatalf("after Complete the store holds %d blob files, want the %d parts and no copy", n, len(parts))
	}
	check("obj")
	// A second client reads across the part boundary too.
	mc := newMinio(t, e.srv.URL, e.a, http.DefaultTransport)
	opts := minio.GetObjectOptions{}
	opts.SetRange(5<<20-3, 5<<20+3)
	mo, err := mc.c.GetObject(ctx, "man", "obj", opts)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := io.ReadAll(mo)
	mo.Close()
	if err != nil || !bytes.Equal(mb, whole[5<<20-3:5<<20+4]) {
		t.Fatalf("minio range: %d bytes, %v", len(mb), err)
	}
	// The orphan collector must see the parts as the object's.
	e.gc(t)
	check("obj")
	if got, want := usage(), int64(len(whole)); got != want {
		t.Fatalf("usage %d, want %d", got, want)
	}

	// A copy owns its bytes; a copy onto itself keeps the manifest.
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("man"), Key: aws.String("copy"), CopySource: aws.String("man/obj")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("man"), Key: aws.String("obj"), CopySource: aws.String("man/obj"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"m": "2"}}); err != nil {
		t.Fatal(err)
	}
	if n := blobFiles(t, e); n != len(parts)+1 {
		t.Fatalf("after the copies the store holds %d blob files, want %d", n, len(parts)+1)
	}
	check("obj")
	check("copy")
	if got, want := usage(), 2*int64(len(whole)); got != want {
		t.Fatalf("usage %d, want %d", got, want)
	}
	// Overwriting frees the parts.
	mustPut(t, c, "man", "obj", []byte("small"))
	if n := blobFiles(t, e); n != 1 {
		t.Fatalf("after overwriting, %d blob files, want the copy's 1", n)
	}
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("man"), Key: aws.String("copy")}); err != nil {
		t.Fatal(err)
	}

	// Versioned: the noncurrent version keeps its parts until it is deleted.
	if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: aws.String("man"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	upload("v")
	head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("man"), Key: aws.String("v")})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "man", "v", []byte("newer"))
	if n := blobFiles(t, e); n != len(parts) {
		t.Fatalf("noncurrent manifest version: %d blob files, want %d", n, len(parts))
	}
	if out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("man"), Key: aws.String("v"), VersionId: head.VersionId,
		Range: aws.String("bytes=5242870-5242889")}); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(b, whole[5242870:5242890]) {
			t.Fatal("noncurrent version's range differs")
		}
	}
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("man"), Key: aws.String("v"), VersionId: head.VersionId}); err != nil {
		t.Fatal(err)
	}
	if n := blobFiles(t, e); n != 0 {
		t.Fatalf("after deleting every manifest: %d blob files left", n)
	}
	e.gc(t)
}

// BenchmarkCompleteMultipart times CompleteMultipartUpload alone (the
// parts are uploaded with the timer stopped) for the same number of parts
// of growing size: with a manifest it records a row per part, so the time
// stays flat as the bytes grow; a copying Complete grows with them.
//
//	go test -run '^$' -bench CompleteMultipart -benchtime 5x ./internal/s3/
func BenchmarkCompleteMultipart(b *testing.B) {
	for _, size := range []int{5 << 20, 20 << 20, 80 << 20} {
		b.Run(fmt.Sprintf("parts=4/part=%dMiB", size>>20), func(b *testing.B) {
			ctx := context.Background()
			e := buildEnv(b, "sqlite", "", false)
			c := awsFor(e, e.a)
			if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
				b.Fatal(err)
			}
			data := bytes.Repeat([]byte{7}, size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("bench"), Key: aws.String("k")})
				if err != nil {
					b.Fatal(err)
				}
				var done []types.CompletedPart
				for n := int32(1); n <= 4; n++ {
					out, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("bench"), Key: aws.String("k"), UploadId: up.UploadId,
						PartNumber: aws.Int32(n), Body: bytes.NewReader(data)})
					if err != nil {
						b.Fatal(err)
					}
					done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
				}
				b.StartTimer()
				if _, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("bench"), Key: aws.String("k"),
					UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				// Freeing the bytes is the delete's cost, not Complete's.
				if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("bench"), Key: aws.String("k")}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
