package s3_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestVirtualHosted addresses buckets as <bucket>.<domain> (the SDK's
// default addressing) while path style keeps working on the same handler.
func TestVirtualHosted(t *testing.T) {
	e := newEnvWith(t, "sqlite", "s3.stowage.test")
	ctx := context.Background()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(e.srv.URL, "http://"))
	// Every name under the domain resolves to the test server.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
	}
	vc := newAWS("http://s3.stowage.test:"+port, e.a, &http.Client{Transport: tr}, aws.RequestChecksumCalculationWhenSupported).c
	vc = awss3.New(vc.Options(), func(o *awss3.Options) { o.UsePathStyle = false })
	if _, err := vc.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("vhost")}); err != nil {
		t.Fatal(err)
	}
	if _, err := vc.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("vhost"), Key: aws.String("dir/a b.txt"), Body: bytes.NewReader([]byte("v"))}); err != nil {
		t.Fatal(err)
	}
	out, err := vc.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("vhost")})
	if err != nil || len(out.Contents) != 1 || *out.Contents[0].Key != "dir/a b.txt" {
		t.Fatalf("virtual-hosted list: %v %v", out, err)
	}
	pc := awsFor(e, e.a) // path style on 127.0.0.1
	g, err := pc.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("vhost"), Key: aws.String("dir/a b.txt")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if string(b) != "v" {
		t.Fatalf("path-style read %q", b)
	}
}
