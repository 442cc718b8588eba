package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// FuzzParseAuthorization checks that the header parser never panics and
// that whatever it accepts survives a render/parse round trip unchanged.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
	f.Add("AWS4-HMAC-SHA256 Credential=a/20130524/r/s3/aws4_request,SignedHeaders=host,Signature=" + strings.Repeat("0", 64))
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=, Signature=")
	f.Add("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := ParseAuthorization(v)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		again := Algorithm + " Credential=" + c.AccessKey + "/" + c.Scope.String() +
			", SignedHeaders=" + strings.Join(c.SignedHeaders, ";") + ", Signature=" + c.Signature
		c2, err := ParseAuthorization(again)
		if err != nil {
			t.Fatalf("round trip of %q: %v", again, err)
		}
		if c2.AccessKey != c.AccessKey || c2.Scope != c.Scope || c2.Signature != c.Signature ||
			strings.Join(c2.SignedHeaders, ";") != strings.Join(c.SignedHeaders, ";") {
			t.Fatalf("round trip changed %+v into %+v", c, c2)
		}
	})
}

// FuzzChunkedReader feeds arbitrary bodies to the decoder in every mode: it
// must not panic or loop, never yield more bytes than it was given, and
// when an unsigned body decodes, framing the result again must decode to
// the same bytes.
func FuzzChunkedReader(f *testing.F) {
	key := SigningKey("secret", testScope)
	seed := strings.Repeat("ab", 32)
	payload := []byte("hello, aws-chunked world")
	f.Add(frame(payload, 5, nil, "", false, nil), uint8(0))
	f.Add(frame(payload, 5, nil, "", true, [][2]string{{"x-amz-checksum-crc32c", crc32c(payload)}}), uint8(1))
	f.Add(frame(payload, 7, key, seed, false, nil), uint8(2))
	f.Add(frame(payload, 7, key, seed, true, [][2]string{{"x-amz-checksum-crc32c", crc32c(payload)}}), uint8(3))
	f.Add([]byte("0\r\n\r\n"), uint8(0))
	f.Add([]byte("5\r\nabc"), uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		o := ChunkedOptions{Time: testTime, Scope: testScope, Seed: seed, DecodedLength: -1, MaxChunk: 1 << 20}
		if mode&2 != 0 {
			o.Signed, o.Key = true, key
		}
		if mode&1 != 0 {
			o.Trailers, o.Trailer = true, "x-amz-checksum-crc32c"
		}
		out, err := io.ReadAll(io.LimitReader(NewChunkedReader(bytes.NewReader(body), o), int64(len(body))+1))
		if len(out) > len(body) {
			t.Fatalf("decoded %d bytes from %d", len(out), len(body))
		}
		if err != nil || mode != 0 {
			return
		}
		again, err := io.ReadAll(NewChunkedReader(bytes.NewReader(frame(out, 3, nil, "", false, nil)), o))
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("re-framed body decoded to %q, %v; want %q", again, err, out)
		}
	})
}

// FuzzVerify feeds whole raw HTTP requests, signed in the header or by
// query (presigned), to Verify and to the body it returns: neither may
// panic or loop, errors must be the package's, and a verified body never
// yields more than the request carried.
func FuzzVerify(f *testing.F) {
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: oracleKey, SecretAccessKey: oracleSecret}
	seed := func(method, target string, h http.Header, body string, presign bool) {
		r, _ := http.NewRequest(method, "http://127.0.0.1:9000"+target, strings.NewReader(body))
		for k, v := range h {
			r.Header[k] = v
		}
		sum := sha256.Sum256([]byte(body))
		payload := hex.EncodeToString(sum[:])
		if presign {
			u, _, err := signer.PresignHTTP(context.Background(), creds, r, "UNSIGNED-PAYLOAD", "s3", testScope.Region, testTime)
			if err != nil {
				f.Fatal(err)
			}
			r, _ = http.NewRequest(method, u, strings.NewReader(body))
		} else {
			r.Header.Set("X-Amz-Content-Sha256", payload)
			if err := signer.SignHTTP(context.Background(), creds, r, payload, "s3", testScope.Region, testTime); err != nil {
				f.Fatal(err)
			}
		}
		var b bytes.Buffer
		if err := r.Write(&b); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	seed("GET", "/bucket/key?list-type=2&prefix=a%2Fb", nil, "", false)
	seed("PUT", "/bucket/a%20key", http.Header{"X-Amz-Meta-Color": {"blue"}, "Content-Type": {"text/plain"}}, "hello", false)
	seed("GET", "/bucket/key?X-Amz-Expires=900", nil, "", true)
	seed("PUT", "/bucket/key", http.Header{"X-Amz-Decoded-Content-Length": {"5"}, "Content-Encoding": {"aws-chunked"}},
		string(frame([]byte("hello"), 2, nil, "", true, [][2]string{{"x-amz-checksum-crc32c", crc32c([]byte("hello"))}})), false)
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		res, err := Verify(context.Background(), r, testTime, oracleSecretFunc)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) && !errors.Is(err, ErrUnknownAccessKey) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if res == nil {
			return
		}
		body, _, err := res.Body(r)
		if err != nil {
			return
		}
		out, _ := io.ReadAll(io.LimitReader(body, int64(len(raw))+1))
		if len(out) > len(raw) {
			t.Fatalf("a %d-byte request yielded a %d-byte body", len(raw), len(out))
		}
	})
}
