package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrUnknownAccessKey is what a SecretFunc returns (or wraps) when no
// credential has the access key id; Verify turns it into InvalidAccessKeyId.
var ErrUnknownAccessKey = errors.New("unknown access key id")

// SecretFunc returns the secret of an access key id. Any error other than
// ErrUnknownAccessKey is treated as an internal failure and returned as is.
type SecretFunc func(ctx context.Context, accessKey string) (secret string, err error)

// Result is a verified request: who signed it, when, and how its body must
// be read.
type Result struct {
	Credentials
	// Time is the signing time of the request.
	Time time.Time
	// PayloadHash is the x-amz-content-sha256 that was signed: a hex
	// digest, UNSIGNED-PAYLOAD, or one of the STREAMING-* modes.
	PayloadHash string
	key         []byte
}

// Verify authenticates r. It returns (nil, nil) for an anonymous request
// (neither an Authorization header nor presigned parameters), leaving the
// decision to the caller. now is injected so tests can use AWS's vectors.
func Verify(ctx context.Context, r *http.Request, now time.Time, secret SecretFunc) (*Result, error) {
	auth := r.Header.Get("Authorization")
	q := r.URL.Query()
	switch {
	case auth != "":
		if strings.HasPrefix(auth, "AWS ") {
			return nil, errorf(CodeInvalidRequest, "signature version 2 is not supported; use AWS4-HMAC-SHA256")
		}
		if q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential") {
			return nil, errorf(CodeInvalidArgument, "only one auth mechanism allowed")
		}
		c, err := ParseAuthorization(auth)
		if err != nil {
			return nil, err
		}
		return verifyHeader(ctx, r, c, now, secret)
	case q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential") || q.Has("X-Amz-Algorithm"):
		c, err := ParsePresigned(q)
		if err != nil {
			return nil, err
		}
		return verifyPresigned(ctx, r, c, now, secret)
	}
	return nil, nil
}

func requestTime(r *http.Request) (time.Time, error) {
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		t, err := time.Parse(TimeFormat, v)
		if err != nil {
			return t, errorf(CodeAccessDenied, "X-Amz-Date must be in ISO 8601 basic format")
		}
		return t, nil
	}
	if v := r.Header.Get("Date"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			return t, errorf(CodeAccessDenied, "the Date header is malformed")
		}
		return t.UTC(), nil
	}
	return time.Time{}, errorf(CodeAccessDenied, "AWS authentication requires a valid Date or x-amz-date header")
}

// checkSigned refuses a request whose x-amz-* headers are not all signed:
// an unsigned x-amz-* header (say x-amz-acl or x-amz-copy-source) could be
// added by anyone on the path and would change what the request does.
func checkSigned(r *http.Request, c Credentials) error {
	signed := make(map[string]bool, len(c.SignedHeaders))
	for _, h := range c.SignedHeaders {
		signed[h] = true
	}
	if !signed["host"] {
		return errorf(CodeAccessDenied, "the host header must be signed")
	}
	for k := range r.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-") && !signed[lk] {
			return errorf(CodeAccessDenied, "there were headers present in the request which were not signed: %s", lk)
		}
	}
	return nil
}

func validPayloadHash(v string) bool {
	switch v {
	case UnsignedPayload, StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedTrailer:
		return true
	}
	if len(v) != 64 {
		return false
	}
	_, err := hex.DecodeString(v)
	return err == nil
}

// LookupSecret returns the secret of key, turning ErrUnknownAccessKey into
// InvalidAccessKeyId; every signature version answers an unknown key alike.
func LookupSecret(ctx context.Context, secret SecretFunc, key string) (string, error) {
	s, err := secret(ctx, key)
	if errors.Is(err, ErrUnknownAccessKey) {
		return "", errorf(CodeInvalidAccessKeyID, "the AWS access key id you provided does not exist in our records")
	}
	if err != nil {
		return "", fmt.Errorf("look up access key: %w", err)
	}
	return s, nil
}

func verifyHeader(ctx context.Context, r *http.Request, c Credentials, now time.Time, secret SecretFunc) (*Result, error) {
	t, err := requestTime(r)
	if err != nil {
		return nil, err
	}
	if d := now.Sub(t); d > MaxSkew || d < -MaxSkew {
		return nil, errorf(CodeTimeTooSkewed, "the difference between the request time and the server's time is too large")
	}
	if c.Scope.Date != t.Format(dateFormat) {
		return nil, errorf(CodeSignatureDoesNotMatch, "the credential date does not match the request date")
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		return nil, errorf(CodeInvalidRequest, "missing required header for this request: x-amz-content-sha256")
	}
	if !validPayloadHash(payload) {
		return nil, errorf(CodeInvalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a SHA-256 hex digest")
	}
	if err := checkSigned(r, c); err != nil {
		return nil, err
	}
	s, err := LookupSecret(ctx, secret, c.AccessKey)
	if err != nil {
		return nil, err
	}
	headers, err := CanonicalHeaders(r, c.SignedHeaders)
	if err != nil {
		return nil, err
	}
	cr := CanonicalRequest(r.Method, CanonicalURI(r.URL.Path), CanonicalQuery(r.URL.RawQuery, ""),
		headers, c.SignedHeaders, payload)
	key := SigningKey(s, c.Scope)
	if !Equal(Sign(key, StringToSign(t, c.Scope, cr)), c.Signature) {
		return nil, errorf(CodeSignatureDoesNotMatch, "the request signature we calculated does not match the signature you provided; check your key and signing method")
	}
	return &Result{Credentials: c, Time: t, PayloadHash: payload, key: key}, nil
}

func verifyPresigned(ctx context.Context, r *http.Request, c Credentials, now time.Time, secret SecretFunc) (*Result, error) {
	if now.Add(MaxSkew).Before(c.Time) {
		return nil, errorf(CodeAccessDenied, "request is not valid yet")
	}
	if now.After(c.Time.Add(c.Expires)) {
		return nil, errorf(CodeExpired, "request has expired")
	}
	// A presigned URL signs no body: the payload hash is the literal
	// UNSIGNED-PAYLOAD unless the signer put one in the query.
	payload := UnsignedPayload
	if v := r.URL.Query().Get("X-Amz-Content-Sha256"); v != "" {
		if v != UnsignedPayload && (len(v) != 64 || !validPayloadHash(v)) {
			return nil, errorf(CodeQueryMalformed, "X-Amz-Content-Sha256 must be UNSIGNED-PAYLOAD or a SHA-256 hex digest")
		}
		payload = v
	}
	if err := checkSigned(r, c); err != nil {
		return nil, err
	}
	s, err := LookupSecret(ctx, secret, c.AccessKey)
	if err != nil {
		return nil, err
	}
	headers, err := CanonicalHeaders(r, c.SignedHeaders)
	if err != nil {
		return nil, err
	}
	cr := CanonicalRequest(r.Method, CanonicalURI(r.URL.Path), CanonicalQuery(r.URL.RawQuery, "X-Amz-Signature"),
		headers, c.SignedHeaders, payload)
	key := SigningKey(s, c.Scope)
	if !Equal(Sign(key, StringToSign(c.Time, c.Scope, cr)), c.Signature) {
		return nil, errorf(CodeSignatureDoesNotMatch, "the request signature we calculated does not match the signature you provided; check your key and signing method")
	}
	return &Result{Credentials: c, Time: c.Time, PayloadHash: payload, key: key}, nil
}

// Streaming reports whether the body is aws-chunked.
func (res *Result) Streaming() bool {
	return strings.HasPrefix(res.PayloadHash, "STREAMING-")
}

// DecodedLength returns the length of the payload once decoded: the
// x-amz-decoded-content-length of a streaming body, the Content-Length
// otherwise, or -1 when unknown.
func DecodedLength(r *http.Request, streaming bool) (int64, error) {
	if !streaming {
		return r.ContentLength, nil
	}
	v := r.Header.Get("X-Amz-Decoded-Content-Length")
	if v == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(CodeInvalidArgument, "x-amz-decoded-content-length must be a non-negative integer")
	}
	return n, nil
}

// Body returns a reader of r's payload that fails before io.EOF if the
// bytes do not match what was signed. A nil res (anonymous request) yields
// the raw body. The returned *ChunkedReader is non-nil for aws-chunked
// bodies, so the caller can read trailers after io.EOF.
func (res *Result) Body(r *http.Request) (io.Reader, *ChunkedReader, error) {
	body := io.Reader(r.Body)
	if r.Body == nil {
		body = http.NoBody
	}
	if res == nil {
		return body, nil, nil
	}
	decoded, err := DecodedLength(r, res.Streaming())
	if err != nil {
		return nil, nil, err
	}
	trailer := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Amz-Trailer")))
	switch res.PayloadHash {
	case UnsignedPayload:
		return body, nil, nil
	case StreamingPayload:
		cr := NewChunkedReader(body, ChunkedOptions{Signed: true, Key: res.key, Time: res.Time,
			Scope: res.Scope, Seed: res.Signature, DecodedLength: decoded})
		return cr, cr, nil
	case StreamingPayloadTrailer, StreamingUnsignedTrailer:
		signed := res.PayloadHash == StreamingPayloadTrailer
		cr := NewChunkedReader(body, ChunkedOptions{Signed: signed, Key: res.key, Time: res.Time,
			Scope: res.Scope, Seed: res.Signature, Trailer: trailer, Trailers: true, DecodedLength: decoded})
		return cr, cr, nil
	}
	return &digestReader{r: body, h: sha256.New(), want: res.PayloadHash}, nil, nil
}

// digestReader checks a signed payload's SHA-256 at EOF.
type digestReader struct {
	r    io.Reader
	h    hash.Hash
	want string
	err  error
}

func (d *digestReader) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	if err == io.EOF && hex.EncodeToString(d.h.Sum(nil)) != d.want {
		d.err = errorf(CodeContentSHA256Mismatch, "the provided x-amz-content-sha256 header does not match what was computed")
		return n, d.err
	}
	return n, err
}
