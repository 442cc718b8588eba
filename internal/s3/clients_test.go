package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// client is the scenario's view of an S3 SDK, so one scenario runs on
// aws-sdk-go-v2 (both checksum settings) and minio-go alike.
type client interface {
	CreateBucket(ctx context.Context, name string) error
	DeleteBucket(ctx context.Context, name string) error
	Put(ctx context.Context, bucket, key string, data []byte) error
	Get(ctx context.Context, bucket, key string, start, end int64) ([]byte, error) // end < 0: whole
	List(ctx context.Context, bucket, prefix, delimiter string) (keys, prefixes []string, err error)
	Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) error
	Multipart(ctx context.Context, bucket, key string, parts [][]byte) error
	Delete(ctx context.Context, bucket, key string) error
}

// errCode extracts the S3 error code an SDK reports.
func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	var me minio.ErrorResponse
	if errors.As(err, &me) {
		return me.Code
	}
	if err == nil {
		return ""
	}
	return "unexpected: " + err.Error()
}

// ---- aws-sdk-go-v2

type awsClient struct{ c *awss3.Client }

func newAWS(endpoint string, k key, hc *http.Client, calc aws.RequestChecksumCalculation) *awsClient {
	return &awsClient{c: awss3.New(awss3.Options{
		Region:                     region,
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		HTTPClient:                 hc,
		Credentials:                credentials.NewStaticCredentialsProvider(k.access, k.secret, ""),
		RequestChecksumCalculation: calc,
		RetryMaxAttempts:           1,
	})}
}

func (a *awsClient) CreateBucket(ctx context.Context, name string) error {
	_, err := a.c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(name),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}})
	return err
}

func (a *awsClient) DeleteBucket(ctx context.Context, name string) error {
	_, err := a.c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String(name)})
	return err
}

func (a *awsClient) Put(ctx context.Context, b, k string, data []byte) error {
	_, err := a.c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(k), Body: bytes.NewReader(data)})
	return err
}

func (a *awsClient) Get(ctx context.Context, b, k string, start, end int64) ([]byte, error) {
	in := &awss3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(k)}
	if end >= 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", start, end))
	}
	out, err := a.c.GetObject(ctx, in)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func (a *awsClient) List(ctx context.Context, b, prefix, delim string) ([]string, []string, error) {
	var keys, prefixes []string
	p := awss3.NewListObjectsV2Paginator(a.c, &awss3.ListObjectsV2Input{Bucket: aws.String(b), Prefix: aws.String(prefix),
		Delimiter: aws.String(delim), MaxKeys: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, o := range out.Contents {
			keys = append(keys, *o.Key)
		}
		for _, cp := range out.CommonPrefixes {
			prefixes = append(prefixes, *cp.Prefix)
		}
	}
	return keys, prefixes, nil
}

func (a *awsClient) Copy(ctx context.Context, sb, sk, db, dk string) error {
	_, err := a.c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String(db), Key: aws.String(dk),
		CopySource: aws.String(url.PathEscape(sb) + "/" + strings.ReplaceAll(url.PathEscape(sk), "%2F", "/"))})
	return err
}

func (a *awsClient) Multipart(ctx context.Context, b, k string, parts [][]byte) error {
	up, err := a.c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(b), Key: aws.String(k)})
	if err != nil {
		return err
	}
	var done []types.CompletedPart
	for i, p := range parts {
		out, err := a.c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String(b), Key: aws.String(k), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			return err
		}
		done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	_, err = a.c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String(b), Key: aws.String(k),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	return err
}

func (a *awsClient) Delete(ctx context.Context, b, k string) error {
	_, err := a.c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String(k)})
	return err
}

// ---- minio-go

type minioClient struct {
	c    *minio.Client
	core *minio.Core
}

func newMinio(t *testing.T, endpoint string, k key, tr http.RoundTripper) *minioClient {
	u, _ := url.Parse(endpoint)
	opts := &minio.Options{Creds: miniocreds.NewStaticV4(k.access, k.secret, ""), Secure: u.Scheme == "https",
		Region: region, BucketLookup: minio.BucketLookupPath, Transport: tr}
	c, err := minio.New(u.Host, opts)
	if err != nil {
		t.Fatal(err)
	}
	core, err := minio.NewCore(u.Host, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &minioClient{c: c, core: core}
}

func (m *minioClient) CreateBucket(ctx context.Context, name string) error {
	return m.c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: region})
}

func (m *minioClient) DeleteBucket(ctx context.Context, name string) error {
	return m.c.RemoveBucket(ctx, name)
}

func (m *minioClient) Put(ctx context.Context, b, k string, data []byte) error {
	_, err := m.c.PutObject(ctx, b, k, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	return err
}

func (m *minioClient) Get(ctx context.Context, b, k string, start, end int64) ([]byte, error) {
	opts := minio.GetObjectOptions{}
	if end >= 0 {
		if err := opts.SetRange(start, end); err != nil {
			return nil, err
		}
	}
	o, err := m.c.GetObject(ctx, b, k, opts)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return io.ReadAll(o)
}

func (m *minioClient) List(ctx context.Context, b, prefix, delim string) ([]string, []string, error) {
	var keys, prefixes []string
	for o := range m.c.ListObjects(ctx, b, minio.ListObjectsOptions{Prefix: prefix, Recursive: delim == "", MaxKeys: 2}) {
		if o.Err != nil {
			return nil, nil, o.Err
		}
		if strings.HasSuffix(o.Key, delim) && delim != "" && o.Size == 0 && o.ETag == "" {
			prefixes = append(prefixes, o.Key)
		} else {
			keys = append(keys, o.Key)
		}
	}
	return keys, prefixes, nil
}

func (m *minioClient) Copy(ctx context.Context, sb, sk, db, dk string) error {
	_, err := m.c.CopyObject(ctx, minio.CopyDestOptions{Bucket: db, Object: dk}, minio.CopySrcOptions{Bucket: sb, Object: sk})
	return err
}

func (m *minioClient) Multipart(ctx context.Context, b, k string, parts [][]byte) error {
	id, err := m.core.NewMultipartUpload(ctx, b, k, minio.PutObjectOptions{})
	if err != nil {
		return err
	}
	var done []minio.CompletePart
	for i, p := range parts {
		op, err := m.core.PutObjectPart(ctx, b, k, id, i+1, bytes.NewReader(p), int64(len(p)), minio.PutObjectPartOptions{})
		if err != nil {
			return err
		}
		done = append(done, minio.CompletePart{PartNumber: i + 1, ETag: op.ETag})
	}
	_, err = m.core.CompleteMultipartUpload(ctx, b, k, id, done, minio.PutObjectOptions{})
	return err
}

func (m *minioClient) Delete(ctx context.Context, b, k string) error {
	return m.c.RemoveObject(ctx, b, k, minio.RemoveObjectOptions{})
}
