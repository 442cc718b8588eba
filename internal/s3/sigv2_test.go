package s3_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/s3/sigv2"
	"github.com/stowage/stowage/internal/testenv"
)

// TestSigV2Clients: the clients that sign with signature version 2 work
// unchanged: s3cmd with signature_v2 (its only kind of presigned URL too),
// boto3 with signature_version "s3", and the presigned URLs Debian's
// botocore makes by default for us-east-1.
func TestSigV2Clients(t *testing.T) {
	e := newEnv(t)
	c := newCLI(t, "s3cmd")
	host := strings.TrimPrefix(e.srv.URL, "http://")
	cfg := c.file("s3cfg-v2", []byte(fmt.Sprintf("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\n"+
		"bucket_location = %s\nuse_https = False\nsignature_v2 = True\nmultipart_chunk_size_mb = 5\n", e.a.access, e.a.secret, host, host, region)))
	s3cmd := func(args ...string) string { return c.must("s3cmd", append([]string{"-c", cfg}, args...)...) }
	large := randomBytes(t, 12<<20)
	c.file("small.txt", []byte("hello v2"))
	c.file("large.bin", large)
	s3cmd("mb", "s3://sigv2-s3cmd")
	s3cmd("put", "small.txt", "s3://sigv2-s3cmd/dir/small file.txt")
	s3cmd("put", "large.bin", "s3://sigv2-s3cmd/large.bin") // multipart: uploads, partNumber & uploadId are signed
	wantContains(t, s3cmd("ls", "s3://sigv2-s3cmd/dir/"), "s3://sigv2-s3cmd/dir/small file.txt")
	s3cmd("get", "s3://sigv2-s3cmd/large.bin", "large.out")
	if !bytes.Equal(c.read("large.out"), large) {
		t.Error("large object differs")
	}
	s3cmd("setacl", "--acl-private", "s3://sigv2-s3cmd/dir/small file.txt") // ?acl in the signed resource
	signed := strings.TrimSpace(s3cmd("signurl", "s3://sigv2-s3cmd/dir/small file.txt", "+600"))
	if body := get(t, signed, 200); body != "hello v2" {
		t.Errorf("s3cmd signurl: %q", body)
	}

	py := newCLI(t, "/usr/bin/python3")
	script := py.file("v2.py", []byte(`
import sys, boto3, botocore, urllib.request
from botocore.config import Config
ep, ak, sk = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=ep, aws_access_key_id=ak, aws_secret_access_key=sk, region_name="us-east-1",
                  config=Config(signature_version="s3", s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
s3.put_object(Bucket="sigv2-s3cmd", Key="boto/a b+c.txt", Body=b"from boto", ContentType="text/plain", Metadata={"k": "v"})
assert s3.get_object(Bucket="sigv2-s3cmd", Key="boto/a b+c.txt", ResponseContentType="x/y")["ContentType"] == "x/y"
assert [o["Key"] for o in s3.list_objects_v2(Bucket="sigv2-s3cmd", Prefix="boto/")["Contents"]] == ["boto/a b+c.txt"]
# A default client presigns with signature version 2 in us-east-1.
plain = boto3.client("s3", endpoint_url=ep, aws_access_key_id=ak, aws_secret_access_key=sk, region_name="us-east-1",
                     config=Config(s3={"addressing_style": "path"}))
url = plain.generate_presigned_url("get_object", Params={"Bucket": "sigv2-s3cmd", "Key": "boto/a b+c.txt"}, ExpiresIn=300)
assert "AWSAccessKeyId=" in url and "Signature=" in url, url
assert urllib.request.urlopen(url).read() == b"from boto"
s3.delete_object(Bucket="sigv2-s3cmd", Key="boto/a b+c.txt")
print("OK")
`))
	wantContains(t, py.must("/usr/bin/python3", script, e.srv.URL, e.a.access, e.a.secret), "OK")

	// Another project's key signs fine and is still refused.
	cfgB := c.file("s3cfg-v2-b", []byte(fmt.Sprintf("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\n"+
		"use_https = False\nsignature_v2 = True\n", e.b.access, e.b.secret, host, host)))
	if out, err := c.run("s3cmd", "-c", cfgB, "get", "s3://sigv2-s3cmd/large.bin", "stolen"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("other project read with V2: %v %s", err, out)
	}
	s3cmd("del", "--recursive", "--force", "s3://sigv2-s3cmd/")
	s3cmd("rb", "s3://sigv2-s3cmd")
}

func get(t *testing.T, u string, want int) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d %s, want %d", u, resp.StatusCode, b, want)
	}
	return string(b)
}

// s3Error sends r and returns the status and S3 error code.
func s3Error(t *testing.T, r *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Code string }
	b, _ := io.ReadAll(resp.Body)
	_ = xml.Unmarshal(b, &e)
	return resp.StatusCode, e.Code
}

// TestSigV2Errors: malformed, stale, expired and forged V2 requests get the
// codes ceph/s3-tests' *_aws2 tests expect, and the signed resource is the
// one AWS documents (bucket first even when the Host names it).
func TestSigV2Errors(t *testing.T) {
	e := newEnvWith(t, "sqlite", "s3.test")
	put, err := http.NewRequest("PUT", e.srv.URL+"/v2-errors", nil)
	if err != nil {
		t.Fatal(err)
	}
	date := time.Now().UTC().Format(http.TimeFormat)
	put.Header.Set("Date", date)
	put.Header.Set("Authorization", "AWS "+e.a.access+":"+sigv2.Sign(e.a.secret, "PUT\n\n\n"+date+"\n/v2-errors"))
	if status, code := s3Error(t, put); status != 200 {
		t.Fatalf("create bucket with V2: %d %s", status, code)
	}

	// A virtual-hosted GET signs /bucket/key, as AWS's own example does.
	body := "vhost"
	req, _ := http.NewRequest("PUT", e.srv.URL+"/obj?x-id=PutObject", strings.NewReader(body))
	req.Host = "v2-errors.s3.test"
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Amz-Meta-Colour", "  blue ")
	req.Header.Set("Date", date)
	req.Header.Set("Authorization", "AWS "+e.a.access+":"+sigv2.Sign(e.a.secret,
		"PUT\n\ntext/plain\n"+date+"\nx-amz-meta-colour:blue\n/v2-errors/obj"))
	if status, code := s3Error(t, req); status != 200 {
		t.Fatalf("virtual-hosted PUT with V2: %d %s", status, code)
	}

	sign := func(method, path, date string) string {
		return "AWS " + e.a.access + ":" + sigv2.Sign(e.a.secret, method+"\n\n\n"+date+"\n"+path)
	}
	for _, tc := range []struct {
		name, date, auth string
		status           int
		code             string
	}{
		{"invalid authorization", date, "AWS HAHAHA", 400, "InvalidArgument"},
		{"empty signature", date, "AWS " + e.a.access + ":", 400, "InvalidArgument"},
		{"no date", "", sign("GET", "/v2-errors/obj", ""), 403, "AccessDenied"},
		{"bad date", "Bad Date", sign("GET", "/v2-errors/obj", "Bad Date"), 403, "AccessDenied"},
		{"before epoch", "Tue, 07 Jul 1950 21:53:04 GMT", sign("GET", "/v2-errors/obj", "Tue, 07 Jul 1950 21:53:04 GMT"), 403, "AccessDenied"},
		{"before today", "Tue, 07 Jul 2010 21:53:04 GMT", sign("GET", "/v2-errors/obj", "Tue, 07 Jul 2010 21:53:04 GMT"), 403, "RequestTimeTooSkewed"},
		{"after end", "Tue, 07 Jul 9999 21:53:04 GMT", sign("GET", "/v2-errors/obj", "Tue, 07 Jul 9999 21:53:04 GMT"), 403, "RequestTimeTooSkewed"},
		{"wrong resource", date, sign("GET", "/v2-errors/other", date), 403, "SignatureDoesNotMatch"},
		{"wrong secret", date, "AWS " + e.a.access + ":" + sigv2.Sign("not-the-secret", "GET\n\n\n"+date+"\n/v2-errors/obj"), 403, "SignatureDoesNotMatch"},
		{"unknown key", date, "AWS AKIAIGR7ZNNBHC5BKSUB:FWeDfwojDSdS2Ztmpfeubhd9isU=", 403, "InvalidAccessKeyId"},
	} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/v2-errors/obj", nil)
		if tc.date != "" {
			req.Header.Set("Date", tc.date)
		}
		req.Header.Set("Authorization", tc.auth)
		if status, code := s3Error(t, req); status != tc.status || code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, code, tc.status, tc.code)
		}
	}
	req, _ = http.NewRequest("GET", e.srv.URL+"/v2-errors/obj", nil)
	req.Header.Set("Date", date)
	req.Header.Set("Authorization", sign("GET", "/v2-errors/obj", date))
	if status, code := s3Error(t, req); status != 200 {
		t.Fatalf("signed GET: %d %s", status, code)
	}

	presign := func(path string, expires time.Time) string {
		exp := strconv.FormatInt(expires.Unix(), 10)
		q := url.Values{"AWSAccessKeyId": {e.a.access}, "Expires": {exp},
			"Signature": {sigv2.Sign(e.a.secret, "GET\n\n\n"+exp+"\n"+path)}}
		return e.srv.URL + path + "?" + q.Encode()
	}
	if got := get(t, presign("/v2-errors/obj", time.Now().Add(time.Minute)), 200); got != body {
		t.Fatalf("presigned GET: %q", got)
	}
	for name, u := range map[string]string{
		"expired":         presign("/v2-errors/obj", time.Now().Add(-time.Minute)),
		"other key":       strings.Replace(presign("/v2-errors/obj", time.Now().Add(time.Minute)), "/obj?", "/obk?", 1),
		"missing expires": strings.Replace(presign("/v2-errors/obj", time.Now().Add(time.Minute)), "Expires=", "Xpires=", 1),
	} {
		req, _ := http.NewRequest("GET", u, nil)
		if status, code := s3Error(t, req); status != 403 {
			t.Errorf("%s presigned URL: %d %s", name, status, code)
		}
	}
}

// TestSigV2Disabled: with --s3-sigv2=false both kinds of V2 request are
// refused with InvalidRequest instead of passing as anonymous.
func TestSigV2Disabled(t *testing.T) {
	srv := testenv.Start(t, func(c *config.Config) { c.S3SigV2 = false })
	date := time.Now().UTC().Format(http.TimeFormat)
	req, _ := http.NewRequest("GET", "http://"+srv.Addrs.S3+"/", nil)
	req.Header.Set("Date", date)
	req.Header.Set("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:"+sigv2.Sign("secret", "GET\n\n\n"+date+"\n/"))
	if status, code := s3Error(t, req); status != 400 || code != "InvalidRequest" {
		t.Errorf("header V2 while disabled: %d %s", status, code)
	}
	req, _ = http.NewRequest("GET", "http://"+srv.Addrs.S3+"/b/k?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=9999999999&Signature=abc", nil)
	if status, code := s3Error(t, req); status != 400 || code != "InvalidRequest" {
		t.Errorf("presigned V2 while disabled: %d %s", status, code)
	}
}
