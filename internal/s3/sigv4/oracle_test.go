package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	oracleKey    = "STOWAGEORACLEKEY0001"
	oracleSecret = "oracle/secret+with/odd=chars"
)

func oracleSecretFunc(_ context.Context, key string) (string, error) {
	if key != oracleKey {
		return "", ErrUnknownAccessKey
	}
	return oracleSecret, nil
}

// verifyServer answers 200 with the sha256 of the decoded body when a
// request verifies, and 403 with the error code otherwise.
func verifyServer(t *testing.T, now func() time.Time) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := Verify(r.Context(), r, now(), oracleSecretFunc)
		if err == nil && res == nil {
			err = &Error{Code: "Anonymous"}
		}
		if err != nil {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, code(err))
			return
		}
		body, _, err := res.Body(r)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, code(err))
			return
		}
		h := sha256.New()
		if _, err := io.Copy(h, body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, code(err))
			return
		}
		fmt.Fprint(w, hex.EncodeToString(h.Sum(nil)))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestOracleAWSSigner signs requests with aws-sdk-go-v2's signer and checks
// that Verify accepts exactly those, across awkward paths, queries and
// header values.
func TestOracleAWSSigner(t *testing.T) {
	now := time.Now().UTC()
	srv := verifyServer(t, func() time.Time { return now })
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: oracleKey, SecretAccessKey: oracleSecret}
	cases := []struct {
		name, method, key, query, body string
		headers                        map[string]string
		payload                        string // "" means the body's sha256
	}{
		{name: "get", method: "GET", key: "plain.txt"},
		{name: "space and unicode key", method: "GET", key: "dir one/ünï cødé ✓.txt"},
		{name: "reserved characters", method: "PUT", key: "a+b=c&d;e,f:g@h$i!j'k(l)m*n~o", body: "x"},
		{name: "double slash and dots", method: "GET", key: "a//b/../c/./d"},
		{name: "list query", method: "GET", key: "", query: "list-type=2&prefix=a%2Fb+c&delimiter=%2F&encoding-type=url&max-keys=7"},
		{name: "empty values", method: "GET", key: "", query: "uploads&prefix="},
		{name: "signed metadata", method: "PUT", key: "m", body: "hello",
			headers: map[string]string{"X-Amz-Meta-Colour": "  deep   blue  ", "Content-Type": "text/plain", "X-Amz-Acl": "private"}},
		{name: "unsigned payload", method: "PUT", key: "u", body: "unsigned body", payload: UnsignedPayload},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := srv.URL + "/bucket/" + Encode(c.key, true)
			if c.query != "" {
				u += "?" + c.query
			}
			req, err := http.NewRequest(c.method, u, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			payload := c.payload
			if payload == "" {
				payload = sha(c.body)
			}
			req.Header.Set("X-Amz-Content-Sha256", payload)
			if err := signer.SignHTTP(context.Background(), creds, req, payload, "s3", "local-1", now); err != nil {
				t.Fatal(err)
			}
			if got := do(t, req); got != sha(c.body) {
				t.Fatalf("header auth: %s", got)
			}

			// The same request presigned.
			preq, _ := http.NewRequest(c.method, u, strings.NewReader(c.body))
			q := preq.URL.Query()
			q.Set("X-Amz-Expires", "300")
			preq.URL.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
			for k, v := range c.headers {
				preq.Header.Set(k, v)
			}
			signed, hdr, err := signer.PresignHTTP(context.Background(), creds, preq, UnsignedPayload, "s3", "local-1", now)
			if err != nil {
				t.Fatal(err)
			}
			preq2, _ := http.NewRequest(c.method, signed, strings.NewReader(c.body))
			for k, vs := range hdr {
				if strings.EqualFold(k, "host") {
					continue
				}
				preq2.Header[k] = vs
			}
			if got := do(t, preq2); got != sha(c.body) {
				t.Fatalf("presigned: %s", got)
			}
		})
	}

	t.Run("unsigned x-amz header refused", func(t *testing.T) {
		req, _ := http.NewRequest("GET", srv.URL+"/bucket/k", nil)
		req.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
		if err := signer.SignHTTP(context.Background(), creds, req, EmptySHA256, "s3", "local-1", now); err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Copy-Source", "/other/secret")
		if got := do(t, req); got != CodeAccessDenied {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("tampered body refused", func(t *testing.T) {
		req, _ := http.NewRequest("PUT", srv.URL+"/bucket/k", strings.NewReader("tampered"))
		req.Header.Set("X-Amz-Content-Sha256", sha("original"))
		if err := signer.SignHTTP(context.Background(), creds, req, sha("original"), "s3", "local-1", now); err != nil {
			t.Fatal(err)
		}
		if got := do(t, req); got != CodeContentSHA256Mismatch {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("skew and expiry", func(t *testing.T) {
		req, _ := http.NewRequest("GET", srv.URL+"/bucket/k", nil)
		req.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
		if err := signer.SignHTTP(context.Background(), creds, req, EmptySHA256, "s3", "local-1", now.Add(-16*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got := do(t, req); got != CodeTimeTooSkewed {
			t.Fatalf("skewed: %s", got)
		}
		preq, _ := http.NewRequest("GET", srv.URL+"/bucket/k?X-Amz-Expires=60", nil)
		signed, _, err := signer.PresignHTTP(context.Background(), creds, preq, UnsignedPayload, "s3", "local-1", now.Add(-61*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		preq2, _ := http.NewRequest("GET", signed, nil)
		if got := do(t, preq2); got != CodeExpired {
			t.Fatalf("expired: %s", got)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		req, _ := http.NewRequest("GET", srv.URL+"/bucket/k", nil)
		req.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
		other := aws.Credentials{AccessKeyID: "NOSUCHKEY", SecretAccessKey: "x"}
		if err := signer.SignHTTP(context.Background(), other, req, EmptySHA256, "s3", "local-1", now); err != nil {
			t.Fatal(err)
		}
		if got := do(t, req); got != CodeInvalidAccessKeyID {
			t.Fatalf("got %s", got)
		}
	})
}

func do(t *testing.T, req *http.Request) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
