// Package sigv2 verifies requests signed with AWS Signature Version 2
// (HMAC-SHA1 over a few headers and the resource), in the Authorization
// header ("AWS key:signature") and in presigned query strings
// (AWSAccessKeyId, Expires, Signature). s3cmd signs nothing else, and
// botocore presigns with it by default in us-east-1, so a server that
// refuses it breaks common clients. It owns only the signature; the S3
// layer decides whether V2 is enabled and what the caller may do.
package sigv2

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/s3/sigv4"
)

// subresources are the query keys that are part of the signed resource,
// as botocore signs them (the longest list a common client uses).
var subresources = []string{
	"accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory",
	"lifecycle", "location", "logging", "metrics", "notification", "object-lock",
	"partNumber", "policy", "replication", "requestPayment", "response-cache-control",
	"response-content-disposition", "response-content-encoding", "response-content-language",
	"response-content-type", "response-expires", "restore", "select", "select-type",
	"storageClass", "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning",
	"versions", "website",
}

// extraSubresources are signed by other signers (MinIO's clients and
// server) but not by botocore; a request carrying one is checked both ways.
var extraSubresources = []string{"encryption", "legal-hold", "retention"}

// maxAuthLen bounds the Authorization header we parse.
const maxAuthLen = 1024

// Is reports whether r carries a V2 signature rather than a V4 one or none.
func Is(r *http.Request) bool {
	if strings.HasPrefix(r.Header.Get("Authorization"), "AWS ") {
		return true
	}
	// Every S3 request asks; parse the query only when it can be V2.
	if !strings.Contains(r.URL.RawQuery, "AWSAccessKeyId") && !strings.Contains(r.URL.RawQuery, "Signature") {
		return false
	}
	q := r.URL.Query()
	return q.Has("AWSAccessKeyId") || (q.Has("Signature") && !q.Has("X-Amz-Signature"))
}

// Verify authenticates a V2-signed request. vhostBucket is the bucket the
// Host names for a virtual-hosted request ("" for path style): the signed
// resource always starts with the bucket. The result has no signed payload
// (V2 signs only Content-MD5, which the S3 layer checks against the body).
func Verify(ctx context.Context, r *http.Request, now time.Time, secret sigv4.SecretFunc, vhostBucket string) (*sigv4.Result, error) {
	q := r.URL.Query()
	if q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential") {
		return nil, &sigv4.Error{Code: sigv4.CodeInvalidArgument, Msg: "only one auth mechanism allowed"}
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		if q.Has("Signature") || q.Has("AWSAccessKeyId") {
			return nil, &sigv4.Error{Code: sigv4.CodeInvalidArgument, Msg: "only one auth mechanism allowed"}
		}
		return verifyHeader(ctx, r, auth, now, secret, vhostBucket)
	}
	return verifyQuery(ctx, r, q, now, secret, vhostBucket)
}

func verifyHeader(ctx context.Context, r *http.Request, auth string, now time.Time, secret sigv4.SecretFunc, vhostBucket string) (*sigv4.Result, error) {
	if len(auth) > maxAuthLen {
		return nil, &sigv4.Error{Code: sigv4.CodeInvalidArgument, Msg: "the Authorization header is too long"}
	}
	key, sig, ok := strings.Cut(strings.TrimPrefix(auth, "AWS "), ":")
	if !ok || key == "" || sig == "" {
		return nil, &sigv4.Error{Code: sigv4.CodeInvalidArgument, Msg: "the Authorization header must be AWS <access key>:<signature>"}
	}
	t, err := requestTime(r)
	if err != nil {
		return nil, err
	}
	if d := now.Sub(t); d > sigv4.MaxSkew || d < -sigv4.MaxSkew {
		return nil, &sigv4.Error{Code: sigv4.CodeTimeTooSkewed, Msg: "the difference between the request time and the server's time is too large"}
	}
	s, err := sigv4.LookupSecret(ctx, secret, key)
	if err != nil {
		return nil, err
	}
	dates := []string{r.Header.Get("Date")}
	if r.Header.Get("X-Amz-Date") != "" && dates[0] != "" {
		// With x-amz-date signed among the amz headers, some signers
		// (boto) leave the Date line empty and others sign the header.
		dates = append(dates, "")
	}
	if !matches(r, s, sig, dates, vhostBucket) {
		return nil, mismatch()
	}
	return result(key, t), nil
}

func verifyQuery(ctx context.Context, r *http.Request, q url.Values, now time.Time, secret sigv4.SecretFunc, vhostBucket string) (*sigv4.Result, error) {
	key, sig, exp := q.Get("AWSAccessKeyId"), q.Get("Signature"), q.Get("Expires")
	if key == "" || sig == "" || exp == "" {
		return nil, &sigv4.Error{Code: sigv4.CodeAccessDenied, Msg: "query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"}
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || secs < 0 {
		return nil, &sigv4.Error{Code: sigv4.CodeAccessDenied, Msg: "Expires must be a number of seconds since the epoch"}
	}
	expires := time.Unix(secs, 0)
	if now.After(expires) {
		return nil, &sigv4.Error{Code: sigv4.CodeExpired, Msg: "request has expired"}
	}
	s, err := sigv4.LookupSecret(ctx, secret, key)
	if err != nil {
		return nil, err
	}
	if !matches(r, s, sig, []string{exp}, vhostBucket) {
		return nil, mismatch()
	}
	return result(key, now), nil
}

func result(key string, t time.Time) *sigv4.Result {
	return &sigv4.Result{Credentials: sigv4.Credentials{AccessKey: key}, Time: t, PayloadHash: sigv4.UnsignedPayload}
}

func mismatch() error {
	return &sigv4.Error{Code: sigv4.CodeSignatureDoesNotMatch, Msg: "the request signature we calculated does not match the signature you provided; check your key and signing method"}
}

// requestTime is x-amz-date, else Date, in any of HTTP's date formats. A
// date before the epoch is as good as none (s3-tests expects AccessDenied,
// not RequestTimeTooSkewed).
func requestTime(r *http.Request) (time.Time, error) {
	v := r.Header.Get("X-Amz-Date")
	if v == "" {
		v = r.Header.Get("Date")
	}
	if v == "" {
		return time.Time{}, &sigv4.Error{Code: sigv4.CodeAccessDenied, Msg: "AWS authentication requires a valid Date or x-amz-date header"}
	}
	t, err := parseTime(v)
	if err != nil || t.Before(time.Unix(0, 0)) {
		return time.Time{}, &sigv4.Error{Code: sigv4.CodeAccessDenied, Msg: "AWS authentication requires a valid Date or x-amz-date header"}
	}
	return t.UTC(), nil
}

// parseTime reads HTTP's date formats, the numeric-zone form s3cmd sends
// ("Wed, 02 Dec 2026 07:41:39 +0000") and ISO 8601 basic.
func parseTime(v string) (time.Time, error) {
	t, err := http.ParseTime(v)
	for _, layout := range []string{time.RFC1123Z, time.RFC1123, sigv4.TimeFormat} {
		if err == nil {
			break
		}
		t, err = time.Parse(layout, v)
	}
	return t, err
}

// matches tries the canonical forms signers are known to produce; every
// form is keyed with the secret, so accepting any of them lets nobody
// sign without it. The forms differ in the Date line (see verifyHeader),
// in the subresources (botocore leaves out some that MinIO's clients
// sign), and in botocore's habit of signing its operation's URI template:
// "/bucket/" for bucket-only paths and the template's literal query (say
// "list-type=2"), which it sends first.
func matches(r *http.Request, secret, sig string, dates []string, vhostBucket string) bool {
	path := r.URL.EscapedPath()
	raw, rawQuery, _ := strings.Cut(r.RequestURI, "?")
	if strings.HasPrefix(raw, "/") {
		path = raw
	}
	if vhostBucket != "" {
		path = "/" + vhostBucket + path
	}
	paths := []string{path}
	if strings.Count(path, "/") == 1 && len(path) > 1 {
		paths = append(paths, path+"/")
	}
	q := r.URL.Query()
	subs := []string{subresourceQuery(q, subresources)}
	if slices.ContainsFunc(extraSubresources, q.Has) {
		subs = append(subs, subresourceQuery(q, append(slices.Clone(subresources), extraSubresources...)))
	}
	var resources []string
	for _, p := range paths {
		for _, sub := range subs {
			resources = append(resources, p+sub)
		}
		if first, _, _ := strings.Cut(rawQuery, "&"); first != "" && !slices.Contains(subresources, strings.SplitN(first, "=", 2)[0]) {
			resources = append(resources, p+"?"+first+subs[0])
		}
	}
	for _, d := range dates {
		for _, res := range resources {
			if hmac.Equal([]byte(Sign(secret, StringToSign(r, d, res))), []byte(sig)) {
				return true
			}
		}
	}
	return false
}

// Sign is base64(HMAC-SHA1(secret, stringToSign)).
func Sign(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// StringToSign is method, Content-MD5, Content-Type, the date (or the
// Expires of a presigned URL), the x-amz-* headers and the resource, one
// per line.
func StringToSign(r *http.Request, date, resource string) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	b.WriteString(r.Header.Get("Content-Md5") + "\n")
	b.WriteString(r.Header.Get("Content-Type") + "\n")
	b.WriteString(date + "\n")
	b.WriteString(amzHeaders(r.Header))
	b.WriteString(resource)
	return b.String()
}

// amzHeaders are the x-amz-* headers, lower case, sorted, values trimmed
// and joined by commas, one "name:value\n" each.
func amzHeaders(h http.Header) string {
	var names []string
	for k := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") {
			names = append(names, lk)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		var vals []string
		for _, v := range h.Values(n) {
			vals = append(vals, strings.Join(strings.Fields(v), " "))
		}
		b.WriteString(n + ":" + strings.Join(vals, ",") + "\n")
	}
	return b.String()
}

// subresourceQuery is "?k=v&k2" for the subresources among keys present in
// q, sorted by key with values decoded, or "" when there are none.
func subresourceQuery(q url.Values, keys []string) string {
	var present []string
	for _, k := range keys {
		if q.Has(k) {
			present = append(present, k)
		}
	}
	if len(present) == 0 {
		return ""
	}
	slices.Sort(present)
	for i, k := range present {
		if v := q.Get(k); v != "" {
			present[i] = k + "=" + v
		}
	}
	return "?" + strings.Join(present, "&")
}
