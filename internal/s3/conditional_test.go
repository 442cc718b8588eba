package s3_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestConditionalWrites: PUT and CompleteMultipartUpload honour If-Match
// and If-None-Match (* or ETags); a refused write leaves the object as it
// was.
func TestConditionalWrites(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := newAWS(e.srv.URL, e.a, http.DefaultClient, aws.RequestChecksumCalculationWhenRequired).c
	b, k := aws.String("cond"), aws.String("obj")
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	put := func(body string, im, inm *string) (string, error) {
		out, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: k, Body: bytes.NewReader([]byte(body)), IfMatch: im, IfNoneMatch: inm})
		if err != nil {
			return "", err
		}
		return *out.ETag, nil
	}
	complete := func(body string, im, inm *string) (string, error) {
		up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: k})
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: b, Key: k, UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte(body))})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: up.UploadId, IfMatch: im, IfNoneMatch: inm,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p.ETag}}}})
		if err != nil {
			return "", err
		}
		return *out.ETag, nil
	}
	star := aws.String("*")
	for _, w := range []struct {
		name  string
		write func(string, *string, *string) (string, error)
	}{{"put", put}, {"complete", complete}} {
		t.Run(w.name, func(t *testing.T) {
			if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: k}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.write("x", star, nil); errCode(err) != "NoSuchKey" {
				t.Fatalf("If-Match * on no object: %v", err)
			}
			etag, err := w.write("one", nil, star)
			if err != nil {
				t.Fatalf("If-None-Match * on no object: %v", err)
			}
			if _, err := w.write("x", nil, star); errCode(err) != "PreconditionFailed" {
				t.Fatalf("If-None-Match * on an object: %v", err)
			}
			if _, err := w.write("x", nil, aws.String(etag)); errCode(err) != "PreconditionFailed" {
				t.Fatalf("If-None-Match with its ETag: %v", err)
			}
			if _, err := w.write("x", aws.String(`"0123"`), nil); errCode(err) != "PreconditionFailed" {
				t.Fatalf("If-Match with another ETag: %v", err)
			}
			out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: k})
			if got := getBytes(t, out, err); string(got) != "one" {
				t.Fatalf("refused writes changed the object to %q", got)
			}
			if _, err := w.write("two", aws.String(etag), aws.String(`"0123"`)); err != nil {
				t.Fatalf("If-Match with its ETag and If-None-Match with another: %v", err)
			}
			out, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: k})
			if got := getBytes(t, out, err); string(got) != "two" {
				t.Fatalf("the object is %q", got)
			}
		})
	}
}
