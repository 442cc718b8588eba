package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// anonymous is an SDK client that sends unsigned requests, as a browser
// or curl would.
func anonymous(e *env) *awss3.Client {
	return awss3.New(awss3.Options{Region: region, BaseEndpoint: aws.String(e.srv.URL), UsePathStyle: true,
		Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
}

func mustPolicy(t *testing.T, c *awss3.Client, b, doc string) {
	t.Helper()
	if _, err := c.PutBucketPolicy(context.Background(), &awss3.PutBucketPolicyInput{Bucket: aws.String(b), Policy: aws.String(doc)}); err != nil {
		t.Fatalf("put policy on %s: %v", b, err)
	}
}

// bucketChanges tries every change of a bucket's configuration and its
// deletion, and returns the S3 error code of each (""  when it succeeded).
func bucketChanges(c *awss3.Client, b string) map[string]string {
	ctx := context.Background()
	got := map[string]string{}
	_, err := c.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String(b), Policy: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::` + b + `","arn:aws:s3:::` + b + `/*"]}]}`)})
	got["PutBucketPolicy"] = errCode(err)
	_, err = c.DeleteBucketPolicy(ctx, &awss3.DeleteBucketPolicyInput{Bucket: aws.String(b)})
	got["DeleteBucketPolicy"] = errCode(err)
	_, err = c.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String(b), ACL: types.BucketCannedACLPublicReadWrite})
	got["PutBucketAcl"] = errCode(err)
	_, err = c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: aws.String(b),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
	got["PutBucketVersioning"] = errCode(err)
	_, err = c.PutBucketEncryption(ctx, &awss3.PutBucketEncryptionInput{Bucket: aws.String(b),
		ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{
			{ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAes256}}}}})
	got["PutBucketEncryption"] = errCode(err)
	_, err = c.PutBucketCors(ctx, &awss3.PutBucketCorsInput{Bucket: aws.String(b), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"*"}}}}})
	got["PutBucketCors"] = errCode(err)
	_, err = c.PutObjectLockConfiguration(ctx, &awss3.PutObjectLockConfigurationInput{Bucket: aws.String(b),
		ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled}})
	got["PutObjectLockConfiguration"] = errCode(err)
	_, err = c.PutPublicAccessBlock(ctx, &awss3.PutPublicAccessBlockInput{Bucket: aws.String(b),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{}})
	got["PutPublicAccessBlock"] = errCode(err)
	_, err = c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String(b)})
	got["DeleteBucket"] = errCode(err)
	return got
}

// TestBucketActionsMatchTheBucketResource is issue 18's item 3: a policy
// granting everyone s3:Get*, s3:Put* and s3:Delete* on "b/*" (objects)
// let an anonymous client replace the policy, the ACL and the rest of
// the bucket's configuration and delete the bucket, because bucket
// actions were matched against "b/". Bucket actions match "b" only, and a
// grant to everyone never changes a bucket, even on "b" itself; a grant
// naming a project does.
func TestBucketActionsMatchTheBucketResource(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner, other, anon := awsFor(e, e.a), awsFor(e, e.b), anonymous(e)
	mustCreate(t, owner, "take")
	mustPut(t, owner, "take", "k", []byte("object"))
	mustPolicy(t, owner, "take", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",
		"Action":["s3:Get*","s3:Put*","s3:Delete*"],"Resource":"arn:aws:s3:::take/*"}]}`)

	// The object grant works as meant.
	if _, err := anon.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("take"), Key: aws.String("anon"), Body: strings.NewReader("x")}); err != nil {
		t.Errorf("anonymous put under an object grant: %v", err)
	}
	if _, err := anon.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("take"), Key: aws.String("k")}); err != nil {
		t.Errorf("anonymous get under an object grant: %v", err)
	}
	// Bucket actions are not object actions.
	for op, code := range bucketChanges(anon, "take") {
		if code != "AccessDenied" {
			t.Errorf("anonymous %s under a grant on take/*: %q, want AccessDenied", op, code)
		}
	}
	if _, err := anon.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: aws.String("take")}); errCode(err) != "AccessDenied" {
		t.Errorf("anonymous GetBucketPolicy under a grant on take/*: %v", err)
	}

	// Everything to everyone, on the bucket too: reading and listing, but
	// still no change to the bucket, signed or not.
	mustPolicy(t, owner, "take", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},
		"Action":"s3:*","Resource":["arn:aws:s3:::take","arn:aws:s3:::take/*"]}]}`)
	if _, err := anon.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("take")}); err != nil {
		t.Errorf("anonymous list under a bucket grant: %v", err)
	}
	for name, c := range map[string]*awss3.Client{"anonymous": anon, "another project": other} {
		for op, code := range bucketChanges(c, "take") {
			if code != "AccessDenied" {
				t.Errorf("%s %s under a grant of s3:* to everyone: %q, want AccessDenied", name, op, code)
			}
		}
	}

	// A grant naming the other project lets that project, and only it,
	// change what it names.
	mustPolicy(t, owner, "take", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+e.b.project+`:root"},
		"Action":"s3:PutBucketCORS","Resource":"arn:aws:s3:::take"}]}`)
	if code := bucketChanges(anon, "take")["PutBucketCors"]; code != "AccessDenied" {
		t.Errorf("anonymous PutBucketCors under a grant to another project: %q", code)
	}
	got := bucketChanges(other, "take")
	for op, code := range got {
		want := "AccessDenied"
		if op == "PutBucketCors" {
			want = ""
		}
		if code != want {
			t.Errorf("granted project %s: %q, want %q", op, code, want)
		}
	}
	// What the engine does not evaluate is refused, not ignored, and so is
	// a statement with both forms of a field or a NotPrincipal of "*".
	for _, doc := range []string{
		`{"Statement":[{"Effect":"Deny","NotPrincipal":"*","Action":"s3:*","Resource":"arn:aws:s3:::take/*"}]}`,
		`{"Statement":[{"Effect":"Deny","Principal":"*","NotPrincipal":{"AWS":"x"},"Action":"s3:*","Resource":"arn:aws:s3:::take/*"}]}`,
		`{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::take/*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"Service":"x"},"Action":"s3:*","Resource":"arn:aws:s3:::take/*"}]}`,
		`{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::take/*"}]}`,
	} {
		if _, err := owner.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("take"), Policy: aws.String(doc)}); errCode(err) != "MalformedPolicy" {
			t.Errorf("policy %s: %v, want MalformedPolicy", doc, err)
		}
	}
	// The owner still owns it all (the bucket holds objects, so it stays).
	for op, code := range bucketChanges(owner, "take") {
		if want := map[bool]string{true: "BucketNotEmpty", false: ""}[op == "DeleteBucket"]; code != want && !(op == "PutObjectLockConfiguration" && code == "InvalidBucketState") {
			t.Errorf("owner %s: %q, want %q", op, code, want)
		}
	}
}

// TestPolicyDenyOverrides is issue 18's item 5a: an explicit Deny in the
// bucket policy refuses whatever else would allow: the owner's own puts,
// another project's listing of an authenticated-read bucket, and a put
// without the server-side encryption a conditioned Deny requires. The
// owner keeps the right to replace or delete the policy.
func TestPolicyDenyOverrides(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner, other, anon := awsFor(e, e.a), awsFor(e, e.b), anonymous(e)
	put := func(c *awss3.Client, b, k string, sse bool) string {
		in := &awss3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(k), Body: bytes.NewReader([]byte("data"))}
		if sse {
			in.ServerSideEncryption = types.ServerSideEncryptionAes256
		}
		_, err := c.PutObject(ctx, in)
		return errCode(err)
	}

	// Unconditional Deny s3:PutObject to everyone, owner included.
	mustCreate(t, owner, "locked")
	if _, err := owner.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("locked"), ACL: types.BucketCannedACLPublicReadWrite}); err != nil {
		t.Fatal(err)
	}
	mustPolicy(t, owner, "locked", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::locked/*"}]}`)
	for name, c := range map[string]*awss3.Client{"owner": owner, "another project": other, "anonymous": anon} {
		if code := put(c, "locked", "k", false); code != "AccessDenied" {
			t.Errorf("%s put under Deny s3:PutObject: %q", name, code)
		}
	}
	if _, err := owner.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("locked"), Key: aws.String("mp")}); errCode(err) != "AccessDenied" {
		t.Errorf("owner multipart under Deny s3:PutObject: %v", err)
	}
	if _, err := owner.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: aws.String("locked")}); err != nil {
		t.Errorf("owner reads the denying policy: %v", err)
	}
	if _, err := owner.DeleteBucketPolicy(ctx, &awss3.DeleteBucketPolicyInput{Bucket: aws.String("locked")}); err != nil {
		t.Fatalf("owner deletes the denying policy: %v", err)
	}
	if code := put(owner, "locked", "k", false); code != "" {
		t.Errorf("owner put once the Deny is gone: %q", code)
	}

	// Deny s3:ListBucket beats the authenticated-read ACL (and ownership).
	mustCreate(t, owner, "authread")
	if _, err := owner.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("authread"), ACL: types.BucketCannedACLAuthenticatedRead}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("authread")}); err != nil {
		t.Fatalf("another project lists an authenticated-read bucket: %v", err)
	}
	mustPolicy(t, owner, "authread", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::authread"}]}`)
	for name, c := range map[string]*awss3.Client{"owner": owner, "another project": other} {
		if _, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("authread")}); errCode(err) != "AccessDenied" {
			t.Errorf("%s lists under Deny s3:ListBucket: %v", name, err)
		}
	}
	if _, err := other.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("authread"), Key: aws.String("missing")}); errCode(err) != "AccessDenied" {
		t.Errorf("a missing key is told to a caller denied listing: %v", err)
	}

	// Deny puts without SSE, as AWS's documentation writes it both ways.
	for i, cond := range []string{
		`{"StringNotEquals":{"s3:x-amz-server-side-encryption":"AES256"}}`,
		`{"Null":{"s3:x-amz-server-side-encryption":"true"}}`,
	} {
		b := fmt.Sprintf("sse-only-%d", i)
		mustCreate(t, owner, b)
		mustPolicy(t, owner, b, `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject",
			"Resource":"arn:aws:s3:::`+b+`/*","Condition":`+cond+`}]}`)
		if code := put(owner, b, "plain", false); code != "AccessDenied" {
			t.Errorf("%s: unencrypted put: %q, want AccessDenied", cond, code)
		}
		if code := put(owner, b, "sealed", true); code != "" {
			t.Errorf("%s: encrypted put: %q", cond, code)
		}
	}
}

// TestWildcardRequests is issue 18's item 14 through the front door: a
// policy resource and a CORS origin shaped like "*a*a*a*a*b" took 12.5 s
// per anonymous request against a 150-byte key, and never finished against
// a 1024-byte one. Both are answered at once now; the client's timeout is
// the bound.
func TestWildcardRequests(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := awsFor(e, e.a)
	mustCreate(t, c, "wild")
	mustPolicy(t, c, "wild", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::wild/*a*a*a*a*b"}]}`)
	if _, err := c.PutBucketCors(ctx, &awss3.PutBucketCorsInput{Bucket: aws.String("wild"), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"http://*a*a*a*a*b"}}}}}); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	key := strings.Repeat("a", 1024)
	start := time.Now()
	resp, err := hc.Get(e.srv.URL + "/wild/" + key)
	if err != nil {
		t.Fatalf("anonymous GET of a 1024-byte key under a wildcard policy: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous GET of a key the policy does not match: %d", resp.StatusCode)
	}
	t.Logf("policy: %v for a 1024-byte key", time.Since(start))
	pre, err := http.NewRequest("OPTIONS", e.srv.URL+"/wild/k", nil)
	if err != nil {
		t.Fatal(err)
	}
	pre.Header.Set("Origin", "http://"+strings.Repeat("a", 1024))
	pre.Header.Set("Access-Control-Request-Method", "GET")
	start = time.Now()
	resp, err = hc.Do(pre)
	if err != nil {
		t.Fatalf("preflight from a 1024-byte origin: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("preflight from an origin the rule does not match: %d", resp.StatusCode)
	}
	t.Logf("CORS: %v for a 1031-byte origin", time.Since(start))
}
