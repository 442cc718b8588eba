package sigv4

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

type vector struct {
	Name             string      `json:"name"`
	AccessKey        string      `json:"access_key"`
	Secret           string      `json:"secret"`
	Time             string      `json:"time"`
	Region           string      `json:"region"`
	Service          string      `json:"service"`
	Full             bool        `json:"full"`
	Presigned        bool        `json:"presigned"`
	StreamingExample bool        `json:"streaming_example"`
	Body             string      `json:"body"`
	Method           string      `json:"method"`
	Path             string      `json:"path"`
	Query            string      `json:"query"`
	Headers          [][2]string `json:"headers"`
	SignedHeaders    string      `json:"signed_headers"`
	Payload          string      `json:"payload"`
	Signature        string      `json:"signature"`
	ChunkSignatures  []string    `json:"chunk_signatures"`
	TrailerCanonical string      `json:"trailer_canonical"`
	TrailerSignature string      `json:"trailer_signature"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []vector `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Cases
}

// serverRequest builds the request as Go's HTTP server would hand it to a
// handler: Host promoted out of the header map.
func (v vector) serverRequest(body io.Reader) *http.Request {
	target := v.Path
	if v.Query != "" {
		target += "?" + v.Query
	}
	r := httptest.NewRequest(v.Method, "http://placeholder"+Encode(v.Path, true)+strings.TrimPrefix(target, v.Path), body)
	r.Header = http.Header{}
	for _, h := range v.Headers {
		if strings.EqualFold(h[0], "Host") {
			r.Host = h[1]
			continue
		}
		r.Header.Add(h[0], h[1])
	}
	if cl := r.Header.Get("Content-Length"); cl != "" {
		r.ContentLength, _ = strconv.ParseInt(cl, 10, 64)
	}
	return r
}

func (v vector) secretFunc() SecretFunc {
	return func(_ context.Context, key string) (string, error) {
		if key != v.AccessKey {
			return "", ErrUnknownAccessKey
		}
		return v.Secret, nil
	}
}

// TestVectorsPureFunctions recomputes each published signature from the
// canonical request, string to sign and signing key.
func TestVectorsPureFunctions(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			tm, err := time.Parse(TimeFormat, v.Time)
			if err != nil {
				t.Fatal(err)
			}
			r := v.serverRequest(nil)
			signed := strings.Split(v.SignedHeaders, ";")
			headers, err := CanonicalHeaders(r, signed)
			if err != nil {
				t.Fatal(err)
			}
			skip := ""
			if v.Presigned {
				skip = "X-Amz-Signature"
			}
			cr := CanonicalRequest(v.Method, CanonicalURI(v.Path), CanonicalQuery(v.Query, skip), headers, signed, v.Payload)
			scope := Scope{Date: v.Time[:8], Region: v.Region, Service: v.Service}
			got := Sign(SigningKey(v.Secret, scope), StringToSign(tm, scope, cr))
			if got != v.Signature {
				t.Errorf("signature %s, want %s\ncanonical request:\n%s", got, v.Signature, cr)
			}
		})
	}
}

// TestVectorsVerify runs the S3 examples through Verify as a server would.
func TestVectorsVerify(t *testing.T) {
	for _, v := range loadVectors(t) {
		if !v.Full {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			tm, _ := time.Parse(TimeFormat, v.Time)
			r := v.serverRequest(strings.NewReader(v.Body))
			if !v.Presigned {
				r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+v.AccessKey+"/"+v.Time[:8]+"/"+v.Region+"/s3/aws4_request, SignedHeaders="+v.SignedHeaders+", Signature="+v.Signature)
			}
			res, err := Verify(context.Background(), r, tm.Add(time.Minute), v.secretFunc())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.AccessKey != v.AccessKey {
				t.Errorf("access key %q", res.AccessKey)
			}
			if v.StreamingExample {
				return // the body is checked in TestStreamingExample
			}
			body, _, err := res.Body(r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(body)
			if err != nil || string(got) != v.Body {
				t.Fatalf("body %q, %v", got, err)
			}
			// One flipped signature character must fail, as must an
			// unknown key and a skewed clock.
			bad := v.Signature[:10] + flip(v.Signature[10]) + v.Signature[11:]
			r2 := v.serverRequest(nil)
			if v.Presigned {
				r2.URL.RawQuery = strings.Replace(v.Query, v.Signature, bad, 1)
			} else {
				r2.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+v.AccessKey+"/"+v.Time[:8]+"/"+v.Region+"/s3/aws4_request,SignedHeaders="+v.SignedHeaders+",Signature="+bad)
			}
			if _, err := Verify(context.Background(), r2, tm, v.secretFunc()); code(err) != CodeSignatureDoesNotMatch {
				t.Errorf("flipped signature: %v", err)
			}
			if _, err := Verify(context.Background(), r, tm.Add(8*24*time.Hour), v.secretFunc()); err == nil {
				t.Errorf("a request a week old was accepted")
			}
		})
	}
}

func flip(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return "<nil>"
	}
	return "other: " + err.Error()
}

// exampleBody frames AWS's streaming example: 66560 bytes of 'a' as a
// 65536-byte chunk, a 1024-byte chunk and the empty last chunk.
func exampleBody(sigs []string, corrupt bool) []byte {
	var b bytes.Buffer
	for i, size := range []int{65536, 1024, 0} {
		b.WriteString(strconv.FormatInt(int64(size), 16) + ";chunk-signature=" + sigs[i] + "\r\n")
		data := bytes.Repeat([]byte("a"), size)
		if corrupt && size == 1024 {
			data[100] = 'b'
		}
		b.Write(data)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func TestStreamingExample(t *testing.T) {
	var v vector
	for _, c := range loadVectors(t) {
		if c.StreamingExample {
			v = c
		}
	}
	tm, _ := time.Parse(TimeFormat, v.Time)
	for _, corrupt := range []bool{false, true} {
		r := v.serverRequest(bytes.NewReader(exampleBody(v.ChunkSignatures, corrupt)))
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+v.AccessKey+"/"+v.Time[:8]+"/"+v.Region+"/s3/aws4_request, SignedHeaders="+v.SignedHeaders+", Signature="+v.Signature)
		res, err := Verify(context.Background(), r, tm, v.secretFunc())
		if err != nil {
			t.Fatal(err)
		}
		body, _, err := res.Body(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(body)
		if corrupt {
			if code(err) != CodeSignatureDoesNotMatch {
				t.Errorf("corrupt chunk: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, bytes.Repeat([]byte("a"), 66560)) {
			t.Errorf("decoded %d bytes", len(got))
		}
	}
	// The trailer signature of AWS's trailing-headers example chains from
	// the final chunk signature.
	scope := Scope{Date: v.Time[:8], Region: v.Region, Service: "s3"}
	got := Sign(SigningKey(v.Secret, scope), TrailerStringToSign(tm, scope, v.ChunkSignatures[2], v.TrailerCanonical))
	if got != v.TrailerSignature {
		t.Errorf("trailer signature %s, want %s", got, v.TrailerSignature)
	}
}
