package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/internal/checksum"
)

var testScope = Scope{Date: "20250101", Region: "local-1", Service: "s3"}
var testTime = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// frame encodes payload as aws-chunked: chunks of size n, signed when key is
// non-nil, with trailers (name, value pairs) when withTrailers is set.
func frame(payload []byte, n int, key []byte, seed string, withTrailers bool, trailers [][2]string) []byte {
	var b bytes.Buffer
	prev := seed
	emit := func(data []byte) {
		b.WriteString(strconv.FormatInt(int64(len(data)), 16))
		if key != nil {
			h := sha256.Sum256(data)
			sig := Sign(key, ChunkStringToSign(testTime, testScope, prev, hex.EncodeToString(h[:])))
			b.WriteString(";chunk-signature=" + sig)
			prev = sig
		}
		b.WriteString("\r\n")
		if len(data) > 0 {
			b.Write(data)
			b.WriteString("\r\n")
		}
	}
	for i := 0; i < len(payload); i += n {
		emit(payload[i:min(i+n, len(payload))])
	}
	emit(nil)
	if withTrailers {
		var canon strings.Builder
		for _, tr := range trailers {
			b.WriteString(tr[0] + ":" + tr[1] + "\r\n")
			canon.WriteString(tr[0] + ":" + tr[1] + "\n")
		}
		if key != nil {
			b.WriteString("x-amz-trailer-signature:" + Sign(key, TrailerStringToSign(testTime, testScope, prev, canon.String())) + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func crc32c(b []byte) string {
	h := checksum.CRC32C.New()
	h.Write(b)
	return checksum.Encode(h.Sum(nil))
}

func TestChunkedReader(t *testing.T) {
	key := SigningKey("secret", testScope)
	seed := strings.Repeat("ab", 32)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80000 bytes
	good := crc32c(payload)
	opts := func(signed, trailers bool) ChunkedOptions {
		o := ChunkedOptions{Signed: signed, Time: testTime, Scope: testScope, Seed: seed,
			Trailers: trailers, DecodedLength: int64(len(payload))}
		if signed {
			o.Key = key
		}
		if trailers {
			o.Trailer = "x-amz-checksum-crc32c"
		}
		return o
	}
	tr := [][2]string{{"x-amz-checksum-crc32c", good}}
	cases := []struct {
		name string
		body []byte
		o    ChunkedOptions
		want string // error code, "" for success
	}{
		{"signed", frame(payload, 65536, key, seed, false, nil), opts(true, false), ""},
		{"signed small chunks", frame(payload, 7, key, seed, false, nil), opts(true, false), ""},
		{"signed trailer", frame(payload, 8192, key, seed, true, tr), opts(true, true), ""},
		{"unsigned trailer", frame(payload, 8192, nil, "", true, tr), opts(false, true), ""},
		{"unsigned trailer bad checksum", frame(payload, 8192, nil, "", true, [][2]string{{"x-amz-checksum-crc32c", crc32c([]byte("x"))}}), opts(false, true), CodeBadDigest},
		{"unsigned trailer missing", frame(payload, 8192, nil, "", true, nil), opts(false, true), CodeInvalidRequest},
		{"signed trailer tampered value", bytes.Replace(frame(payload, 8192, key, seed, true, tr), []byte(good), []byte(crc32c(nil)), 1), opts(true, true), CodeSignatureDoesNotMatch},
		{"wrong seed", frame(payload, 65536, key, strings.Repeat("cd", 32), false, nil), opts(true, false), CodeSignatureDoesNotMatch},
		{"truncated", frame(payload, 65536, key, seed, false, nil)[:70000], opts(true, false), CodeIncompleteBody},
		{"short decoded length", frame(payload[:100], 64, key, seed, false, nil), opts(true, false), CodeIncompleteBody},
		{"bare LF", bytes.Replace(frame(payload, 65536, nil, "", false, nil), []byte("\r\n"), []byte("\n"), 1), opts(false, false), CodeInvalidRequest},
		{"garbage size", []byte("zz\r\n"), opts(false, false), CodeInvalidRequest},
		{"long line", append(bytes.Repeat([]byte("1"), 5000), "\r\n"...), opts(false, false), CodeInvalidRequest},
		{"huge chunk", []byte("fffffffffff\r\n"), opts(false, false), CodeInvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, bufSize := range []int{1, 13, 4096, 1 << 20} {
				cr := NewChunkedReader(bytes.NewReader(c.body), c.o)
				got, err := readWith(cr, bufSize)
				if c.want == "" {
					if err != nil {
						t.Fatalf("buf %d: %v", bufSize, err)
					}
					if !bytes.Equal(got, payload) {
						t.Fatalf("buf %d: decoded %d bytes", bufSize, len(got))
					}
					if c.o.Trailers && cr.Trailers()["x-amz-checksum-crc32c"] != good {
						t.Fatalf("trailers %v", cr.Trailers())
					}
					continue
				}
				if code(err) != c.want {
					t.Fatalf("buf %d: got %v, want %s", bufSize, err, c.want)
				}
			}
		})
	}
}

func readWith(r io.Reader, n int) ([]byte, error) {
	var out bytes.Buffer
	buf := make([]byte, n)
	for {
		k, err := r.Read(buf)
		out.Write(buf[:k])
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
	}
}

// TestOracleSDKStreaming sends PutObject through aws-sdk-go-v2's S3 client
// (which picks aws-chunked with checksum trailers over TLS by default) to a
// server that only verifies and decodes, and checks the decoded bytes.
func TestOracleSDKStreaming(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{} // key -> mode + sha256 of decoded body
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := Verify(r.Context(), r, time.Now(), oracleSecretFunc)
		if err != nil || res == nil {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "<Error><Code>"+code(err)+"</Code></Error>")
			return
		}
		body, _, err := res.Body(r)
		if err == nil {
			h := sha256.New()
			if _, err = io.Copy(h, body); err == nil {
				mu.Lock()
				got[r.URL.Path] = res.PayloadHash + " " + hex.EncodeToString(h.Sum(nil))
				mu.Unlock()
				w.Header().Set("ETag", `"x"`)
				return
			}
		}
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "<Error><Code>"+code(err)+"</Code></Error>")
	}))
	defer srv.Close()
	data := bytes.Repeat([]byte("stowage!"), 300000) // 2.4 MB, several chunks
	for _, mode := range []aws.RequestChecksumCalculation{aws.RequestChecksumCalculationWhenSupported, aws.RequestChecksumCalculationWhenRequired} {
		for _, seekable := range []bool{true, false} {
			client := s3.New(s3.Options{
				Region:                     "local-1",
				BaseEndpoint:               aws.String(srv.URL),
				UsePathStyle:               true,
				HTTPClient:                 srv.Client(),
				Credentials:                aws.NewCredentialsCache(staticCreds{}),
				RequestChecksumCalculation: mode,
			})
			name := "/b/" + strconv.Itoa(int(mode)) + "-" + strconv.FormatBool(seekable)
			var body io.Reader = bytes.NewReader(data)
			if !seekable {
				body = io.MultiReader(bytes.NewReader(data))
			}
			_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String("b"), Key: aws.String(name[3:]), Body: body,
				ContentLength: aws.Int64(int64(len(data))),
			})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			mu.Lock()
			v := got[name]
			mu.Unlock()
			mode, digest, _ := strings.Cut(v, " ")
			if digest != sha(string(data)) {
				t.Fatalf("%s: decoded body differs (%q)", name, v)
			}
			t.Logf("%s: payload mode %s", name, mode)
		}
	}
}

type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: oracleKey, SecretAccessKey: oracleSecret}, nil
}
