package s3_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	mpform "mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/internal/s3/sigv4"
)

// postForm sends a browser-style upload: fields in order, then the file.
func postForm(t *testing.T, url string, fields [][2]string, filename string, data []byte) *http.Response {
	t.Helper()
	var body bytes.Buffer
	mw := mpform.NewWriter(&body)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(url, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func policyDoc(t *testing.T, exp time.Time, conds ...any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"expiration": exp.UTC().Format("2006-01-02T15:04:05Z"), "conditions": conds})
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// TestPostObject: HTML-form uploads signed with SigV4 or the HMAC-SHA1
// policy signature store the file under the form's key with its headers;
// a wrong signature, an expired policy, a field the policy does not cover,
// a size outside content-length-range or an anonymous form to a private
// bucket store nothing.
func TestPostObject(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := newAWS(e.srv.URL, e.a, http.DefaultClient, aws.RequestChecksumCalculationWhenRequired).c
	for _, b := range []string{"forms", "open"} {
		if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("open"), ACL: types.BucketCannedACLPublicReadWrite}); err != nil {
		t.Fatal(err)
	}
	url := e.srv.URL + "/forms"
	future := time.Now().Add(time.Hour)
	conds := []any{map[string]string{"bucket": "forms"}, []any{"starts-with", "$key", "up/"}, []any{"starts-with", "$Content-Type", "text/"},
		[]any{"content-length-range", 1, 1024}}
	v4 := func(policy string) [][2]string {
		day := time.Now().UTC().Format("20060102")
		scope := sigv4.Scope{Date: day, Region: region, Service: "s3"}
		return [][2]string{{"x-amz-algorithm", sigv4.Algorithm}, {"x-amz-credential", e.a.access + "/" + scope.String()},
			{"x-amz-date", day + "T000000Z"}, {"policy", policy}, {"x-amz-signature", sigv4.Sign(sigv4.SigningKey(e.a.secret, scope), policy)}}
	}
	v4conds := append(conds, map[string]string{"x-amz-algorithm": sigv4.Algorithm}, []any{"starts-with", "$x-amz-credential", ""},
		[]any{"starts-with", "$x-amz-date", ""}, map[string]string{"success_action_status": "201"})
	policy := policyDoc(t, future, v4conds...)
	resp := postForm(t, url, append([][2]string{{"key", "up/${filename}"}, {"Content-Type", "text/plain"}, {"success_action_status", "201"}}, v4(policy)...), "a.txt", []byte("hello"))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("v4 form: %d", resp.StatusCode)
	}
	out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("forms"), Key: aws.String("up/a.txt")})
	if got := getBytes(t, out, err); string(got) != "hello" || aws.ToString(out.ContentType) != "text/plain" {
		t.Fatalf("v4 form stored %q as %q", got, aws.ToString(out.ContentType))
	}

	v2 := func(secret, policy string) string {
		m := hmac.New(sha1.New, []byte(secret))
		m.Write([]byte(policy))
		return base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	policy = policyDoc(t, future, conds...)
	fields := func(key, sig, policy string) [][2]string {
		return [][2]string{{"key", key}, {"AWSAccessKeyId", e.a.access}, {"policy", policy}, {"signature", sig}, {"Content-Type", "text/plain"}}
	}
	if resp := postForm(t, url, fields("up/v2", v2(e.a.secret, policy), policy), "f", []byte("v2")); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("v2 form: %d", resp.StatusCode)
	}
	expired := policyDoc(t, time.Now().Add(-time.Minute), conds...)
	for name, f := range map[string]struct {
		fields [][2]string
		data   []byte
		status int
	}{
		"wrong signature":     {fields("up/x", v2(e.b.secret, policy), policy), []byte("x"), http.StatusForbidden},
		"expired":             {fields("up/x", v2(e.a.secret, expired), expired), []byte("x"), http.StatusForbidden},
		"key outside policy":  {fields("down/x", v2(e.a.secret, policy), policy), []byte("x"), http.StatusForbidden},
		"field outside":       {append(fields("up/x", v2(e.a.secret, policy), policy), [2]string{"x-amz-meta-extra", "1"}), []byte("x"), http.StatusForbidden},
		"too large":           {fields("up/x", v2(e.a.secret, policy), policy), bytes.Repeat([]byte("x"), 1025), http.StatusBadRequest},
		"too small":           {fields("up/x", v2(e.a.secret, policy), policy), nil, http.StatusBadRequest},
		"anonymous, private":  {[][2]string{{"key", "up/x"}}, []byte("x"), http.StatusForbidden},
		"no signature at all": {[][2]string{{"key", "up/x"}, {"AWSAccessKeyId", e.a.access}, {"policy", policy}}, []byte("x"), http.StatusBadRequest},
		// A checksum field needs no condition (it was "extra input
		// fields"); a wrong one fails the upload.
		"wrong checksum": {append(fields("up/x", v2(e.a.secret, policy), policy), [2]string{"x-amz-checksum-sha256", "sailorjerry"}), []byte("x"), http.StatusBadRequest},
	} {
		if resp := postForm(t, url, f.fields, "f", f.data); resp.StatusCode != f.status {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, f.status)
		}
	}
	if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("forms"), Key: aws.String("up/x")}); errCode(err) != "NotFound" {
		t.Fatalf("a refused form stored its file: %v", err)
	}
	sum := sha256.Sum256([]byte("summed"))
	if resp := postForm(t, url, append(fields("up/summed", v2(e.a.secret, policy), policy), [2]string{"x-amz-checksum-sha256", base64.StdEncoding.EncodeToString(sum[:])}),
		"f", []byte("summed")); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("form with a right checksum field: %d, want 204", resp.StatusCode)
	}
	// Anonymous forms reach only a public-read-write bucket.
	resp = postForm(t, e.srv.URL+"/open", [][2]string{{"key", "anon"}}, "f", []byte("anon"))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("anonymous form to a public-read-write bucket: %d", resp.StatusCode)
	}
	out, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("open"), Key: aws.String("anon")})
	if got := getBytes(t, out, err); string(got) != "anon" {
		t.Fatalf("anonymous form stored %q", got)
	}
}

// TestPostPolicyBucket is issue 18's item 5b: a form whose signed policy
// names bucket "signed", posted to /elsewhere with a bucket field saying
// "signed", stored its file in elsewhere. The policy's conditions are
// checked against the bucket actually written, and a bucket field that
// names another bucket is refused.
func TestPostPolicyBucket(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := awsFor(e, e.a)
	mustCreate(t, c, "signed")
	mustCreate(t, c, "elsewhere")
	future := time.Now().Add(time.Hour)
	v2 := func(policy string) string {
		m := hmac.New(sha1.New, []byte(e.a.secret))
		m.Write([]byte(policy))
		return base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	for name, cond := range map[string]any{
		"object condition": map[string]string{"bucket": "signed"},
		"eq condition":     []any{"eq", "$bucket", "signed"},
	} {
		policy := policyDoc(t, future, cond, []any{"starts-with", "$key", ""})
		fields := [][2]string{{"key", "k"}, {"bucket", "signed"}, {"AWSAccessKeyId", e.a.access}, {"policy", policy}, {"signature", v2(policy)}}
		if resp := postForm(t, e.srv.URL+"/elsewhere", fields, "f", []byte("x")); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: a form for signed posted to elsewhere: %d, want 403", name, resp.StatusCode)
		}
		if resp := postForm(t, e.srv.URL+"/elsewhere", fields[:1:1], "f", []byte("x")); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: anonymous form to elsewhere: %d, want 403", name, resp.StatusCode)
		}
		if resp := postForm(t, e.srv.URL+"/signed", fields, "f", []byte("x")); resp.StatusCode != http.StatusNoContent {
			t.Errorf("%s: the form posted to its own bucket: %d, want 204", name, resp.StatusCode)
		}
	}
	if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("elsewhere"), Key: aws.String("k")}); errCode(err) != "NotFound" {
		t.Errorf("a form for another bucket stored its file: %v", err)
	}
}

// TestPostObjectPolicyConditions: a bucket policy's conditions see a
// form's fields as the headers they stand for, so a Deny of unencrypted
// puts refuses a form without x-amz-server-side-encryption and lets one
// with it through.
func TestPostObjectPolicyConditions(t *testing.T) {
	e := newEnv(t)
	c := awsFor(e, e.a)
	mustCreate(t, c, "sealed")
	if _, err := c.PutBucketAcl(context.Background(), &awss3.PutBucketAclInput{Bucket: aws.String("sealed"), ACL: types.BucketCannedACLPublicReadWrite}); err != nil {
		t.Fatal(err)
	}
	mustPolicy(t, c, "sealed", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject",
		"Resource":"arn:aws:s3:::sealed/*","Condition":{"Null":{"s3:x-amz-server-side-encryption":"true"}}}]}`)
	if resp := postForm(t, e.srv.URL+"/sealed", [][2]string{{"key", "plain"}}, "f", []byte("x")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("unencrypted form under a Deny of unencrypted puts: %d, want 403", resp.StatusCode)
	}
	if resp := postForm(t, e.srv.URL+"/sealed", [][2]string{{"key", "enc"}, {"x-amz-server-side-encryption", "AES256"}}, "f", []byte("x")); resp.StatusCode != http.StatusNoContent {
		t.Errorf("encrypted form: %d, want 204", resp.StatusCode)
	}
}
