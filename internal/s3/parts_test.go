package s3_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestGetPart: GET and HEAD ?partNumber=N answer part N of a multipart
// object (206, its length, the object's ETag and parts count) and the whole
// of a single-part object for N = 1; other numbers are InvalidPart. The
// upload's canned ACL reaches the completed object.
func TestGetPart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := newAWS(e.srv.URL, e.a, http.DefaultClient, aws.RequestChecksumCalculationWhenRequired).c
	b := aws.String("parts")
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	data := sseData(11<<20 + 3)
	sizes := []int{5 << 20, 5 << 20, 1<<20 + 3}
	up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp"), ACL: types.ObjectCannedACLPublicRead})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	off := 0
	for i, n := range sizes {
		out, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(data[off : off+n])})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
		off += n
	}
	done, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal(err)
	}
	off = 0
	for i, n := range sizes {
		pn := aws.Int32(int32(i + 1))
		head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: b, Key: aws.String("mp"), PartNumber: pn})
		if err != nil || *head.ContentLength != int64(n) || aws.ToInt32(head.PartsCount) != 3 || *head.ETag != *done.ETag {
			t.Fatalf("head part %d: %v", i+1, err)
		}
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("mp"), PartNumber: pn})
		if got := getBytes(t, out, err); !bytes.Equal(got, data[off:off+n]) {
			t.Fatalf("part %d reads back different", i+1)
		}
		off += n
	}
	if _, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("mp"), PartNumber: aws.Int32(4)}); errCode(err) != "InvalidPart" {
		t.Fatalf("part 4 of 3: %v", err)
	}
	if _, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("mp"), PartNumber: aws.Int32(1), Range: aws.String("bytes=0-1")}); errCode(err) != "InvalidRequest" {
		t.Fatalf("part and range: %v", err)
	}
	// The upload was public-read: anyone reads the object.
	resp, err := http.Get(e.srv.URL + "/parts/mp")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("anonymous read of a public-read multipart object: %d", resp.StatusCode)
	}

	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("single"), Body: bytes.NewReader([]byte("body"))}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("single"), PartNumber: aws.Int32(1)})
	if got := getBytes(t, out, err); string(got) != "body" {
		t.Fatalf("part 1 of a single-part object: %q", got)
	}
	if _, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("single"), PartNumber: aws.Int32(2)}); errCode(err) != "InvalidPart" {
		t.Fatalf("part 2 of a single-part object: %v", err)
	}
}
