package s3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// customer is an SSE-C key as clients send it.
type customer struct{ key, md5 string }

func newCustomer(seed byte) customer {
	k := bytes.Repeat([]byte{seed}, 32)
	sum := md5.Sum(k)
	return customer{base64.StdEncoding.EncodeToString(k), base64.StdEncoding.EncodeToString(sum[:])}
}

// sseData is incompressible and position-dependent, so a misplaced
// keystream or part boundary shows as wrong bytes.
func sseData(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// stored reports whether needle is anywhere in what the env stored: its
// data directory (metadata, local blobs) or its RADOS namespace.
func stored(t *testing.T, e *env, needle []byte) bool {
	t.Helper()
	return onDisk(t, e.dataDir, needle) || (e.pool != nil && e.pool.holds(t, needle))
}

// onDisk reports whether any file of the data directory (blobs, the
// SQLite database and its journal) contains needle.
func onDisk(t *testing.T, dir string, needle []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found = bytes.Contains(b, needle)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func getBytes(t *testing.T, out *awss3.GetObjectOutput, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSSE(t *testing.T) {
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) { testSSE(t, newEnvOn(t, backend)) })
	}
}

func testSSE(t *testing.T, e *env) {
	ctx := context.Background()
	c := newAWS(e.tls.URL, e.a, &http.Client{Transport: e.tlsTransport()}, aws.RequestChecksumCalculationWhenRequired).c
	b := aws.String("sse")
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	data := sseData(1<<20 + 77)
	probe := data[4096 : 4096+64]

	t.Run("sse-s3", func(t *testing.T) {
		put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("s3"), Body: bytes.NewReader(data),
			ServerSideEncryption: types.ServerSideEncryptionAes256})
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(data)
		if put.ServerSideEncryption != types.ServerSideEncryptionAes256 || *put.ETag != fmt.Sprintf(`"%x"`, sum) {
			t.Fatalf("put: sse %q etag %s", put.ServerSideEncryption, *put.ETag)
		}
		if stored(t, e, probe) {
			t.Fatal("plaintext found on disk")
		}
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("s3")})
		if out != nil && out.ServerSideEncryption != types.ServerSideEncryptionAes256 {
			t.Fatalf("get: sse %q", out.ServerSideEncryption)
		}
		if got := getBytes(t, out, err); !bytes.Equal(got, data) {
			t.Fatal("sse-s3 object reads back different")
		}
		// Ranges at every alignment against the keystream's 16-byte blocks.
		for _, r := range [][2]int{{0, 0}, {1, 16}, {15, 17}, {16, 31}, {4095, 70000}, {len(data) - 5, len(data) - 1}} {
			out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("s3"), Range: aws.String(fmt.Sprintf("bytes=%d-%d", r[0], r[1]))})
			if got := getBytes(t, out, err); !bytes.Equal(got, data[r[0]:r[1]+1]) {
				t.Fatalf("range %v reads back different", r)
			}
		}
		head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: b, Key: aws.String("s3")})
		if err != nil || head.ServerSideEncryption != types.ServerSideEncryptionAes256 || *head.ContentLength != int64(len(data)) {
			t.Fatalf("head: %v %+v", err, head)
		}
	})

	t.Run("sse-c", func(t *testing.T) {
		k, other := newCustomer(1), newCustomer(2)
		put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("c"), Body: bytes.NewReader(data),
			SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.key), SSECustomerKeyMD5: aws.String(k.md5)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(put.SSECustomerKeyMD5) != k.md5 {
			t.Fatalf("put answers key md5 %q", aws.ToString(put.SSECustomerKeyMD5))
		}
		if sum := md5.Sum(data); *put.ETag == fmt.Sprintf(`"%x"`, sum) {
			t.Fatal("an SSE-C ETag must not be the plaintext's MD5")
		}
		if stored(t, e, probe) {
			t.Fatal("plaintext found on disk")
		}
		_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("c")})
		if code := errCode(err); code != "InvalidRequest" {
			t.Fatalf("get without the key: %v", err)
		}
		_, err = c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: b, Key: aws.String("c")})
		if err == nil {
			t.Fatal("head without the key succeeded")
		}
		_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("c"),
			SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(other.key), SSECustomerKeyMD5: aws.String(other.md5)})
		if code := errCode(err); code != "InvalidArgument" {
			t.Fatalf("get with another key: %v", err)
		}
		_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("c"),
			SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.key), SSECustomerKeyMD5: aws.String(other.md5)})
		if code := errCode(err); code != "InvalidArgument" {
			t.Fatalf("get with a key whose MD5 does not match: %v", err)
		}
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("c"), Range: aws.String("bytes=100-200000"),
			SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.key), SSECustomerKeyMD5: aws.String(k.md5)})
		if got := getBytes(t, out, err); !bytes.Equal(got, data[100:200001]) {
			t.Fatal("sse-c range reads back different")
		}
		// A plain object refuses a customer key.
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("plain"), Body: bytes.NewReader([]byte("x"))}); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("plain"),
			SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.key), SSECustomerKeyMD5: aws.String(k.md5)})
		if code := errCode(err); code != "InvalidArgument" {
			t.Fatalf("customer key on a plain object: %v", err)
		}
		// Both kinds at once, KMS without a key, and KMS on a node without
		// a key service are refused; nothing is stored.
		_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("both"), Body: bytes.NewReader(data),
			ServerSideEncryption: types.ServerSideEncryptionAes256,
			SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.key), SSECustomerKeyMD5: aws.String(k.md5)})
		if code := errCode(err); code != "InvalidArgument" {
			t.Fatalf("sse-s3 with sse-c: %v", err)
		}
		_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("kms"), Body: bytes.NewReader(data),
			ServerSideEncryption: types.ServerSideEncryptionAwsKms})
		if code := errCode(err); code != "InvalidArgument" {
			t.Fatalf("kms without a key: %v", err)
		}
		_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("kms"), Body: bytes.NewReader(data),
			ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("alias/any")})
		if code := errCode(err); code != "NotImplemented" {
			t.Fatalf("kms: %v", err)
		}
		for _, key := range []string{"both", "kms"} {
			if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: b, Key: aws.String(key)}); errCode(err) != "NotFound" {
				t.Fatalf("refused %s was stored: %v", key, err)
			}
		}
	})

	t.Run("multipart", func(t *testing.T) {
		k := newCustomer(3)
		big := sseData(11 << 20)
		withKey := func(in *awss3.UploadPartInput) *awss3.UploadPartInput {
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.key), aws.String(k.md5)
			return in
		}
		up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp"),
			SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.key), SSECustomerKeyMD5: aws.String(k.md5)})
		if err != nil {
			t.Fatal(err)
		}
		sizes := []int{5 << 20, 5 << 20, 1 << 20}
		// A part without the upload's key is refused (a small body: the
		// refusal comes before the body is read).
		_, err = c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(1),
			Body: bytes.NewReader(big[:1024])})
		if code := errCode(err); code != "InvalidRequest" {
			t.Fatalf("part without the key: %v", err)
		}
		var parts []types.CompletedPart
		off := 0
		for i, n := range sizes {
			var out *awss3.UploadPartOutput
			// Part 2 is sent twice: a re-uploaded part gets its own counter.
			for range 1 + i%2 {
				out, err = c.UploadPart(ctx, withKey(&awss3.UploadPartInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
					PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(big[off : off+n])}))
				if err != nil {
					t.Fatal(err)
				}
			}
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
			off += n
		}
		if _, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
			t.Fatal(err)
		}
		get := func(in *awss3.GetObjectInput) *awss3.GetObjectInput {
			in.Bucket, in.Key = b, aws.String("mp")
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.key), aws.String(k.md5)
			return in
		}
		out, err := c.GetObject(ctx, get(&awss3.GetObjectInput{}))
		if got := getBytes(t, out, err); !bytes.Equal(got, big) {
			t.Fatal("multipart sse-c object reads back different")
		}
		// A range across both part boundaries.
		lo, hi := sizes[0]-3, sizes[0]+sizes[1]+5
		out, err = c.GetObject(ctx, get(&awss3.GetObjectInput{Range: aws.String(fmt.Sprintf("bytes=%d-%d", lo, hi))}))
		if got := getBytes(t, out, err); !bytes.Equal(got, big[lo:hi+1]) {
			t.Fatal("range across parts reads back different")
		}
		off = 0
		for i, n := range sizes {
			out, err = c.GetObject(ctx, get(&awss3.GetObjectInput{PartNumber: aws.Int32(int32(i + 1))}))
			if out != nil && aws.ToInt32(out.PartsCount) != 3 {
				t.Fatalf("part %d: parts count %d", i+1, aws.ToInt32(out.PartsCount))
			}
			if got := getBytes(t, out, err); !bytes.Equal(got, big[off:off+n]) {
				t.Fatalf("part %d reads back different", i+1)
			}
			off += n
		}
		_, err = c.GetObject(ctx, get(&awss3.GetObjectInput{PartNumber: aws.Int32(4)}))
		if code := errCode(err); code != "InvalidPart" {
			t.Fatalf("part 4 of 3: %v", err)
		}
	})

	t.Run("copy", func(t *testing.T) {
		k, k2 := newCustomer(4), newCustomer(5)
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("src-c"), Body: bytes.NewReader(data),
			SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.key), SSECustomerKeyMD5: aws.String(k.md5)}); err != nil {
			t.Fatal(err)
		}
		// SSE-C source without its key: refused.
		_, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("x"), CopySource: aws.String("sse/src-c")})
		if code := errCode(err); code != "InvalidRequest" {
			t.Fatalf("copy of an sse-c source without its key: %v", err)
		}
		steps := []struct {
			from, to string
			in       awss3.CopyObjectInput
			read     *customer
		}{
			{"src-c", "to-s3", awss3.CopyObjectInput{ServerSideEncryption: types.ServerSideEncryptionAes256,
				CopySourceSSECustomerAlgorithm: aws.String("AES256"), CopySourceSSECustomerKey: aws.String(k.key), CopySourceSSECustomerKeyMD5: aws.String(k.md5)}, nil},
			{"to-s3", "to-c2", awss3.CopyObjectInput{SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k2.key), SSECustomerKeyMD5: aws.String(k2.md5)}, &k2},
			{"to-c2", "to-plain", awss3.CopyObjectInput{CopySourceSSECustomerAlgorithm: aws.String("AES256"), CopySourceSSECustomerKey: aws.String(k2.key), CopySourceSSECustomerKeyMD5: aws.String(k2.md5)}, nil},
			{"to-plain", "to-plain", awss3.CopyObjectInput{ServerSideEncryption: types.ServerSideEncryptionAes256}, nil},
		}
		for _, s := range steps {
			in := s.in
			in.Bucket, in.Key, in.CopySource = b, aws.String(s.to), aws.String("sse/"+s.from)
			if _, err := c.CopyObject(ctx, &in); err != nil {
				t.Fatalf("copy %s → %s: %v", s.from, s.to, err)
			}
			g := &awss3.GetObjectInput{Bucket: b, Key: aws.String(s.to)}
			if s.read != nil {
				g.SSECustomerAlgorithm, g.SSECustomerKey, g.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(s.read.key), aws.String(s.read.md5)
			}
			out, err := c.GetObject(ctx, g)
			if got := getBytes(t, out, err); !bytes.Equal(got, data) {
				t.Fatalf("copy %s → %s reads back different", s.from, s.to)
			}
		}
		head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: b, Key: aws.String("to-plain")})
		if err != nil || head.ServerSideEncryption != types.ServerSideEncryptionAes256 {
			t.Fatalf("in-place copy to sse-s3: %v %q", err, head.ServerSideEncryption)
		}
	})

	t.Run("bucket-default", func(t *testing.T) {
		_, err := c.GetBucketEncryption(ctx, &awss3.GetBucketEncryptionInput{Bucket: b})
		if code := errCode(err); code != "ServerSideEncryptionConfigurationNotFoundError" {
			t.Fatalf("get before put: %v", err)
		}
		if _, err := c.PutBucketEncryption(ctx, &awss3.PutBucketEncryptionInput{Bucket: b,
			ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{{
				ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAes256}}}}}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetBucketEncryption(ctx, &awss3.GetBucketEncryptionInput{Bucket: b})
		if err != nil || got.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm != types.ServerSideEncryptionAes256 {
			t.Fatalf("get: %v", err)
		}
		put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("default"), Body: bytes.NewReader(data)})
		if err != nil || put.ServerSideEncryption != types.ServerSideEncryptionAes256 {
			t.Fatalf("put under a default: %v %q", err, put.ServerSideEncryption)
		}
		// Another project can neither read nor change the configuration.
		other := newAWS(e.tls.URL, e.b, &http.Client{Transport: e.tlsTransport()}, aws.RequestChecksumCalculationWhenRequired).c
		if _, err := other.GetBucketEncryption(ctx, &awss3.GetBucketEncryptionInput{Bucket: b}); errCode(err) != "AccessDenied" {
			t.Fatalf("other project's get: %v", err)
		}
		if _, err := other.DeleteBucketEncryption(ctx, &awss3.DeleteBucketEncryptionInput{Bucket: b}); errCode(err) != "AccessDenied" {
			t.Fatalf("other project's delete: %v", err)
		}
		if _, err := c.DeleteBucketEncryption(ctx, &awss3.DeleteBucketEncryptionInput{Bucket: b}); err != nil {
			t.Fatal(err)
		}
		put, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("after"), Body: bytes.NewReader(data)})
		if err != nil || put.ServerSideEncryption != "" {
			t.Fatalf("put after delete: %v %q", err, put.ServerSideEncryption)
		}
	})
}

// TestSSECNeedsASecureChannel: a customer key sent in clear from another
// machine is refused before anything is stored; over TLS, from this
// machine, or through a proxy that terminated TLS it is accepted.
func TestSSECNeedsASecureChannel(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// The same handler on a non-loopback address of this machine: requests
	// to it arrive from that address, as from another machine.
	var ip net.IP
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			ip = n.IP
			break
		}
	}
	if ip == nil {
		t.Skip("this machine has no non-loopback IPv4 address to play a remote client from")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	remote := httptest.NewUnstartedServer(e.srv.Config.Handler)
	remote.Listener.Close()
	remote.Listener = ln
	remote.Start()
	t.Cleanup(remote.Close)

	k := newCustomer(9)
	put := func(url, key string, tr http.RoundTripper, header map[string]string) error {
		c := newAWS(url, e.a, &http.Client{Transport: tr}, aws.RequestChecksumCalculationWhenRequired).c
		_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("chan"), Key: aws.String(key), Body: bytes.NewReader([]byte("secret")),
			SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.key), SSECustomerKeyMD5: aws.String(k.md5)},
			func(o *awss3.Options) {
				for h, v := range header {
					o.APIOptions = append(o.APIOptions, smithyhttp.AddHeaderValue(h, v))
				}
			})
		return err
	}
	c := newAWS(e.srv.URL, e.a, http.DefaultClient, aws.RequestChecksumCalculationWhenRequired).c
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("chan")}); err != nil {
		t.Fatal(err)
	}
	if err := put(remote.URL, "clear", http.DefaultTransport, nil); errCode(err) != "InvalidRequest" {
		t.Fatalf("customer key in clear from another machine: %v", err)
	}
	if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("chan"), Key: aws.String("clear")}); errCode(err) != "NotFound" {
		t.Fatalf("the refused object exists: %v", err)
	}
	for name, err := range map[string]error{
		"loopback": put(e.srv.URL, "loop", http.DefaultTransport, nil),
		"tls":      put(e.tls.URL, "tls", e.tlsTransport(), nil),
		"proxied":  put(remote.URL, "proxied", http.DefaultTransport, map[string]string{"X-Forwarded-Proto": "https"}),
	} {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
