package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/stowage/stowage/internal/s3"
)

// S3 sends one raw S3 request, path-style, signed with creds (anonymous
// when nil) for the region the server runs. The path is sent as given,
// already escaped, so tests can put any bytes in a key.
func (e *Env) S3(creds *aws.Credentials, method, path, rawQuery string, h http.Header, body []byte) Response {
	e.T.Helper()
	req, err := http.NewRequest(method, "http://"+e.Addrs.S3+"/", bytes.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	req.URL.Opaque = "//" + e.Addrs.S3 + path
	req.URL.RawQuery = rawQuery
	for k, vs := range h {
		req.Header[k] = vs
	}
	if creds != nil {
		sum := sha256.Sum256(body)
		payload := hex.EncodeToString(sum[:])
		req.Header.Set("X-Amz-Content-Sha256", payload)
		// The path is already escaped, as S3 clients sign it.
		signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		if err := signer.SignHTTP(context.Background(), *creds, req, payload, "s3", e.Config.Region, time.Now()); err != nil {
			e.T.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatalf("S3 %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatalf("S3 %s %s: read body: %v", method, path, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// S3Query returns a query string that selects rt: its keys, with uploadID
// and part filled in where the route takes them.
func S3Query(rt s3.Route, uploadID, part string) string {
	var q []string
	for _, k := range rt.Query {
		switch {
		case strings.Contains(k, "="):
			q = append(q, k)
		case k == "uploadId":
			q = append(q, k+"="+uploadID)
		case k == "partNumber":
			q = append(q, k+"="+part)
		default:
			q = append(q, k+"=")
		}
	}
	return strings.Join(q, "&")
}
