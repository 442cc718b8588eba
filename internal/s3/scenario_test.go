package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScenario runs the same scenario through every Go client: create a
// bucket, put small and 20 MiB objects, list with prefix and delimiter, get
// a range, copy, multipart, delete, and another project's denial.
func TestScenario(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) { scenario(t, newEnvOn(t, b)) })
	}
}

func scenario(t *testing.T, e *env) {
	runners := []struct {
		name  string
		owner func() client
		other func() client
	}{
		{"aws-default-https", func() client {
			return newAWS(e.tls.URL, e.a, &http.Client{Transport: e.tlsTransport()}, aws.RequestChecksumCalculationWhenSupported)
		}, func() client {
			return newAWS(e.tls.URL, e.b, &http.Client{Transport: e.tlsTransport()}, aws.RequestChecksumCalculationWhenSupported)
		}},
		{"aws-default-http", func() client {
			return newAWS(e.srv.URL, e.a, http.DefaultClient, aws.RequestChecksumCalculationWhenSupported)
		}, func() client {
			return newAWS(e.srv.URL, e.b, http.DefaultClient, aws.RequestChecksumCalculationWhenSupported)
		}},
		{"aws-when-required", func() client {
			return newAWS(e.srv.URL, e.a, http.DefaultClient, aws.RequestChecksumCalculationWhenRequired)
		}, func() client {
			return newAWS(e.srv.URL, e.b, http.DefaultClient, aws.RequestChecksumCalculationWhenRequired)
		}},
		{"minio-http", func() client { return newMinio(t, e.srv.URL, e.a, nil) },
			func() client { return newMinio(t, e.srv.URL, e.b, nil) }},
		{"minio-https", func() client { return newMinio(t, e.tls.URL, e.a, e.tlsTransport()) },
			func() client { return newMinio(t, e.tls.URL, e.b, e.tlsTransport()) }},
	}
	small := []byte("hello, stowage")
	large := randomBytes(t, 20<<20)
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			ctx := context.Background()
			c, other := r.owner(), r.other()
			bkt := "scenario-" + r.name
			if err := c.CreateBucket(ctx, bkt); err != nil {
				t.Fatalf("create bucket: %v", err)
			}
			for _, k := range []string{"docs/a.txt", "docs/b.txt", "docs/sub/c.txt", "top.txt", "../../etc/passwd", "a//b"} {
				if err := c.Put(ctx, bkt, k, small); err != nil {
					t.Fatalf("put %s: %v", k, err)
				}
			}
			if err := c.Put(ctx, bkt, "large.bin", large); err != nil {
				t.Fatalf("put large: %v", err)
			}
			got, err := c.Get(ctx, bkt, "large.bin", -1, -1)
			if err != nil || !bytes.Equal(got, large) {
				t.Fatalf("get large: %d bytes, %v", len(got), err)
			}
			got, err = c.Get(ctx, bkt, "../../etc/passwd", -1, -1)
			if err != nil || !bytes.Equal(got, small) {
				t.Fatalf("get ../../etc/passwd: %q, %v", got, err)
			}
			keys, prefixes, err := c.List(ctx, bkt, "docs/", "/")
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if !slices.Equal(keys, []string{"docs/a.txt", "docs/b.txt"}) || !slices.Equal(prefixes, []string{"docs/sub/"}) {
				t.Fatalf("list docs/ /: keys %q prefixes %q", keys, prefixes)
			}
			keys, _, err = c.List(ctx, bkt, "", "")
			want := []string{"../../etc/passwd", "a//b", "docs/a.txt", "docs/b.txt", "docs/sub/c.txt", "large.bin", "top.txt"}
			if err != nil || !slices.Equal(keys, want) {
				t.Fatalf("list all: %q, %v", keys, err)
			}
			got, err = c.Get(ctx, bkt, "large.bin", 1<<20, 2<<20-1)
			if err != nil || !bytes.Equal(got, large[1<<20:2<<20]) {
				t.Fatalf("get range: %d bytes, %v", len(got), err)
			}
			if err := c.Copy(ctx, bkt, "large.bin", bkt, "copies/large copy.bin"); err != nil {
				t.Fatalf("copy: %v", err)
			}
			got, err = c.Get(ctx, bkt, "copies/large copy.bin", -1, -1)
			if err != nil || !bytes.Equal(got, large) {
				t.Fatalf("get copy: %d bytes, %v", len(got), err)
			}
			parts := [][]byte{large[:6<<20], large[6<<20 : 12<<20], large[12<<20:]}
			if err := c.Multipart(ctx, bkt, "multi.bin", parts); err != nil {
				t.Fatalf("multipart: %v", err)
			}
			got, err = c.Get(ctx, bkt, "multi.bin", -1, -1)
			if err != nil || !bytes.Equal(got, large) {
				t.Fatalf("get multipart: %d bytes, %v", len(got), err)
			}

			// Another project: denied, and the name is taken.
			if _, err := other.Get(ctx, bkt, "top.txt", -1, -1); errCode(err) != "AccessDenied" {
				t.Errorf("other project get: %v", err)
			}
			if _, _, err := other.List(ctx, bkt, "", ""); errCode(err) != "AccessDenied" {
				t.Errorf("other project list: %v", err)
			}
			if err := other.Put(ctx, bkt, "intruder", small); errCode(err) != "AccessDenied" {
				t.Errorf("other project put: %v", err)
			}
			if err := other.Delete(ctx, bkt, "top.txt"); errCode(err) != "AccessDenied" {
				t.Errorf("other project delete: %v", err)
			}
			if err := other.CreateBucket(ctx, bkt); errCode(err) != "BucketAlreadyExists" {
				t.Errorf("other project create: %v", err)
			}
			if err := c.CreateBucket(ctx, bkt); err != nil {
				t.Errorf("owner re-create: %v", err)
			}

			if err := c.DeleteBucket(ctx, bkt); errCode(err) != "BucketNotEmpty" {
				t.Errorf("delete non-empty bucket: %v", err)
			}
			keys, _, _ = c.List(ctx, bkt, "", "")
			for _, k := range keys {
				if err := c.Delete(ctx, bkt, k); err != nil {
					t.Fatalf("delete %s: %v", k, err)
				}
			}
			if _, err := c.Get(ctx, bkt, "top.txt", -1, -1); errCode(err) != "NoSuchKey" {
				t.Errorf("get deleted: %v", err)
			}
			if err := c.DeleteBucket(ctx, bkt); err != nil {
				t.Fatalf("delete bucket: %v", err)
			}
			if err := c.CreateBucket(ctx, bkt); !strings.HasPrefix(errCode(err), "Bucket") {
				t.Errorf("a deleted bucket's name was reused: %v", err)
			}
		})
	}
}
