package s3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestListing(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) { listing(t, newEnvOn(t, b)) })
	}
}

func listing(t *testing.T, e *env) {
	ctx := context.Background()
	c := awsFor(e, e.a)
	mustCreate(t, c, "lst")
	keys := []string{"a", "a/b", "a/b/c", "a/c", "a+b", "a b", "b/x", "b/y/z", "c", "é", "z/", "Z", "ü/1", "ü/2", "~"}
	for _, k := range keys {
		mustPut(t, c, "lst", k, []byte(k))
	}
	byteOrder := slices.Clone(keys)
	sort.Strings(byteOrder) // Go compares strings bytewise: UTF-8 byte order

	t.Run("storage class", func(t *testing.T) {
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("lst"), Key: aws.String("sc/cold"), Body: strings.NewReader("x"),
			StorageClass: types.StorageClassStandardIa, Metadata: map[string]string{"note": "x-amz-storage-class"}}); err != nil {
			t.Fatal(err)
		}
		mustPut(t, c, "lst", "sc/plain", []byte("y"))
		out, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("lst"), Prefix: aws.String("sc/")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != 2 || out.Contents[0].StorageClass != types.ObjectStorageClassStandardIa || out.Contents[1].StorageClass != types.ObjectStorageClassStandard {
			t.Fatalf("storage classes listed: %+v", out.Contents)
		}
		for _, k := range []string{"sc/cold", "sc/plain"} {
			if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("lst"), Key: aws.String(k)}); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("v2 pages in byte order", func(t *testing.T) {
		var got []string
		p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: aws.String("lst"), MaxKeys: aws.Int32(4)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Contents {
				got = append(got, *o.Key)
			}
		}
		if !slices.Equal(got, byteOrder) {
			t.Fatalf("got %q\nwant %q", got, byteOrder)
		}
	})
	t.Run("v2 delimiter pages", func(t *testing.T) {
		var items []string
		var token *string
		for range 20 {
			out, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("lst"), Delimiter: aws.String("/"),
				MaxKeys: aws.Int32(2), ContinuationToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Contents {
				items = append(items, *o.Key)
			}
			for _, p := range out.CommonPrefixes {
				items = append(items, *p.Prefix)
			}
			if !*out.IsTruncated {
				break
			}
			token = out.NextContinuationToken
		}
		sort.Strings(items)
		want := []string{"Z", "a", "a b", "a+b", "a/", "b/", "c", "z/", "~", "é", "ü/"}
		if !slices.Equal(items, want) {
			t.Fatalf("got %q\nwant %q", items, want)
		}
	})
	t.Run("v2 start-after, prefix and fetch-owner", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("lst"), Prefix: aws.String("a/"),
			StartAfter: aws.String("a/b"), FetchOwner: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range out.Contents {
			got = append(got, *o.Key)
			if o.Owner == nil || *o.Owner.ID != e.a.project {
				t.Errorf("owner %v", o.Owner)
			}
		}
		if !slices.Equal(got, []string{"a/b/c", "a/c"}) || *out.KeyCount != 2 {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("v1 marker and NextMarker", func(t *testing.T) {
		var got []string
		marker := ""
		for range 20 {
			out, err := c.ListObjects(ctx, &awss3.ListObjectsInput{Bucket: aws.String("lst"), Marker: aws.String(marker),
				MaxKeys: aws.Int32(3), Delimiter: aws.String("/")})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Contents {
				got = append(got, *o.Key)
			}
			for _, p := range out.CommonPrefixes {
				got = append(got, *p.Prefix)
			}
			if !*out.IsTruncated {
				break
			}
			marker = *out.NextMarker
		}
		sort.Strings(got)
		if len(got) != 11 {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("encoding-type=url", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("lst"), Prefix: aws.String("a"),
			EncodingType: types.EncodingTypeUrl})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range out.Contents {
			k, err := url.QueryUnescape(*o.Key)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, k)
			if strings.Contains(*o.Key, " ") {
				t.Errorf("key not encoded: %q", *o.Key)
			}
		}
		if !slices.Equal(got, []string{"a", "a b", "a+b", "a/b", "a/b/c", "a/c"}) {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("max-keys 0 and bad values", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("lst"), MaxKeys: aws.Int32(0)})
		if err != nil || len(out.Contents) != 0 {
			t.Fatalf("max-keys 0: %v %v", out, err)
		}
		_, err = c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("lst"), MaxKeys: aws.Int32(-1)})
		if errCode(err) != "InvalidArgument" {
			t.Fatalf("max-keys -1: %v", err)
		}
	})
}

func TestMultipart(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) { multipart(t, newEnvOn(t, b)) })
	}
}

func multipart(t *testing.T, e *env) {
	ctx := context.Background()
	c := awsFor(e, e.a)
	mustCreate(t, c, "mpu")
	p1, p2, p3 := randomBytes(t, 5<<20), randomBytes(t, 5<<20), randomBytes(t, 1234)
	create := func(k string) *string {
		out, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String(k),
			ContentType: aws.String("application/x-mp"), Metadata: map[string]string{"m": "1"}})
		if err != nil {
			t.Fatal(err)
		}
		return out.UploadId
	}
	part := func(k string, id *string, n int32, data []byte) types.CompletedPart {
		out, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String(k), UploadId: id,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		return types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)}
	}
	complete := func(k string, id *string, parts ...types.CompletedPart) (*awss3.CompleteMultipartUploadOutput, error) {
		return c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String(k),
			UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	}

	id := create("obj")
	c1, c2, c3 := part("obj", id, 1, p1), part("obj", id, 2, p2), part("obj", id, 3, p3)
	ups, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("mpu")})
	if err != nil || len(ups.Uploads) != 1 || *ups.Uploads[0].UploadId != *id {
		t.Fatalf("list uploads: %v %v", ups, err)
	}
	lp, err := c.ListParts(ctx, &awss3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String("obj"), UploadId: id, MaxParts: aws.Int32(2)})
	if err != nil || len(lp.Parts) != 2 || !*lp.IsTruncated || *lp.NextPartNumberMarker != "2" {
		t.Fatalf("list parts: %+v %v", lp, err)
	}
	if _, err := complete("obj", id, c2, c1, c3); errCode(err) != "InvalidPartOrder" {
		t.Errorf("out of order: %v", err)
	}
	bad := c2
	bad.ETag = aws.String(`"00000000000000000000000000000000"`)
	if _, err := complete("obj", id, c1, bad, c3); errCode(err) != "InvalidPart" {
		t.Errorf("wrong etag: %v", err)
	}
	if _, err := complete("obj", id, c1, c3, types.CompletedPart{ETag: c2.ETag, PartNumber: aws.Int32(4)}); errCode(err) != "EntityTooSmall" && errCode(err) != "InvalidPart" {
		t.Errorf("small middle part: %v", err)
	}
	out, err := complete("obj", id, c1, c2, c3)
	if err != nil {
		t.Fatal(err)
	}
	h := md5.New()
	for _, p := range [][]byte{p1, p2, p3} {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	if want := fmt.Sprintf(`"%s-3"`, hex.EncodeToString(h.Sum(nil))); *out.ETag != want {
		t.Errorf("etag %s, want %s", *out.ETag, want)
	}
	g, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("obj")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if !bytes.Equal(got, slices.Concat(p1, p2, p3)) || *g.ContentType != "application/x-mp" || g.Metadata["m"] != "1" {
		t.Fatalf("object: %d bytes, %v %v", len(got), *g.ContentType, g.Metadata)
	}
	// A retried completion reports the same object; other parts do not.
	if again, err := complete("obj", id, c1, c2, c3); err != nil || *again.ETag != *out.ETag {
		t.Errorf("complete twice: %v", err)
	}
	if _, err := complete("obj", id, c1, c2); errCode(err) != "NoSuchUpload" {
		t.Errorf("complete a finished upload with other parts: %v", err)
	}

	t.Run("small middle part", func(t *testing.T) {
		id := create("small")
		a, b := part("small", id, 1, p3), part("small", id, 2, p3)
		if _, err := complete("small", id, a, b); errCode(err) != "EntityTooSmall" {
			t.Errorf("got %v", err)
		}
	})
	t.Run("abort", func(t *testing.T) {
		id := create("aborted")
		part("aborted", id, 1, p3)
		if _, err := c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("aborted"), UploadId: id}); err != nil {
			t.Fatal(err)
		}
		_, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("aborted"), UploadId: id,
			PartNumber: aws.Int32(2), Body: bytes.NewReader(p3)})
		if errCode(err) != "NoSuchUpload" {
			t.Errorf("part after abort: %v", err)
		}
	})
	t.Run("upload part copy with range", func(t *testing.T) {
		id := create("copied")
		r1, err := c.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: aws.String("mpu"), Key: aws.String("copied"), UploadId: id,
			PartNumber: aws.Int32(1), CopySource: aws.String("mpu/obj"), CopySourceRange: aws.String(fmt.Sprintf("bytes=0-%d", 5<<20-1))})
		if err != nil {
			t.Fatal(err)
		}
		r2, err := c.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: aws.String("mpu"), Key: aws.String("copied"), UploadId: id,
			PartNumber: aws.Int32(2), CopySource: aws.String("mpu/obj"), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", 10<<20, 10<<20+99))})
		if err != nil {
			t.Fatal(err)
		}
		_, err = complete("copied", id, types.CompletedPart{ETag: r1.CopyPartResult.ETag, PartNumber: aws.Int32(1)},
			types.CompletedPart{ETag: r2.CopyPartResult.ETag, PartNumber: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		g, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("copied")})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(g.Body)
		g.Body.Close()
		if !bytes.Equal(got, slices.Concat(p1, p3[:100])) {
			t.Fatalf("copied object differs (%d bytes)", len(got))
		}
	})
	t.Run("deleting a bucket aborts its uploads", func(t *testing.T) {
		mustCreate(t, c, "mpu-busy")
		up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("mpu-busy"), Key: aws.String("x")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("mpu-busy"), Key: aws.String("x"), UploadId: up.UploadId,
			PartNumber: aws.Int32(1), Body: bytes.NewReader(p3)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("mpu-busy")}); err != nil {
			t.Errorf("delete bucket with an upload: %v", err)
		}
	})
}
