package s3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func awsFor(e *env, k key) *awss3.Client {
	return newAWS(e.srv.URL, k, http.DefaultClient, aws.RequestChecksumCalculationWhenSupported).c
}

func mustCreate(t *testing.T, c *awss3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

func mustPut(t *testing.T, c *awss3.Client, b, k string, data []byte) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(k), Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("put %s: %v", k, err)
	}
}

// withHeader adds a raw header to one SDK call, for cases the SDK has no
// field for (or to send a deliberately wrong value).
func withHeader(k, v string) func(*awss3.Options) {
	return func(o *awss3.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Build.Add(middleware.BuildMiddlewareFunc("hdr", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
				if r, ok := in.Request.(*smithyhttp.Request); ok {
					r.Header.Set(k, v)
				}
				return next.HandleBuild(ctx, in)
			}), middleware.After)
		})
	}
}

func TestObjectSemantics(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := awsFor(e, e.a)
	mustCreate(t, c, "sem")
	data := []byte("0123456789abcdefghij")
	sum := md5.Sum(data)
	put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("sem"), Key: aws.String("k"), Body: bytes.NewReader(data),
		ContentType: aws.String("text/plain"), CacheControl: aws.String("max-age=60"), ContentDisposition: aws.String(`attachment; filename="k.txt"`),
		ContentEncoding: aws.String("identity"), Expires: aws.Time(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)),
		Metadata: map[string]string{"colour": "blue", "Mixed-Case": "yes"}, ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		Tagging: aws.String("a=1&b=two")})
	if err != nil {
		t.Fatal(err)
	}
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	if *put.ETag != etag {
		t.Fatalf("etag %s", *put.ETag)
	}

	t.Run("metadata round trip", func(t *testing.T) {
		h, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("sem"), Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		if *h.ContentType != "text/plain" || *h.CacheControl != "max-age=60" || *h.ContentDisposition != `attachment; filename="k.txt"` ||
			*h.ContentEncoding != "identity" || h.Metadata["colour"] != "blue" || h.Metadata["mixed-case"] != "yes" ||
			*h.ContentLength != int64(len(data)) || *h.ETag != etag {
			t.Fatalf("head: %+v", h)
		}
		if h.ExpiresString == nil || !strings.Contains(*h.ExpiresString, "2030") {
			t.Fatalf("expires %v", h.ExpiresString)
		}
	})
	t.Run("bad Content-MD5", func(t *testing.T) {
		wrong := md5.Sum([]byte("other"))
		_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("sem"), Key: aws.String("bad"), Body: bytes.NewReader(data),
			ContentMD5: aws.String(base64.StdEncoding.EncodeToString(wrong[:]))})
		if errCode(err) != "BadDigest" {
			t.Fatalf("got %v", err)
		}
		_, err = c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("sem"), Key: aws.String("bad")})
		if err == nil {
			t.Fatal("a refused body became an object")
		}
	})
	t.Run("bad checksum header", func(t *testing.T) {
		_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("sem"), Key: aws.String("bad"), Body: bytes.NewReader(data),
			ChecksumCRC32C: aws.String("AAAAAA==")})
		if errCode(err) != "BadDigest" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("checksum stored and returned", func(t *testing.T) {
		_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("sem"), Key: aws.String("sha"), Body: bytes.NewReader(data),
			ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("sem"), Key: aws.String("sha"), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, out.Body)
		out.Body.Close()
		if out.ChecksumSHA256 == nil {
			t.Fatal("no SHA256 checksum returned")
		}
	})
	t.Run("ranges", func(t *testing.T) {
		for rg, want := range map[string]string{"bytes=0-3": "0123", "bytes=15-": "fghij", "bytes=-3": "hij", "bytes=18-100": "ij"} {
			out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("sem"), Key: aws.String("k"), Range: aws.String(rg)})
			if err != nil {
				t.Fatalf("%s: %v", rg, err)
			}
			got, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if string(got) != want || !strings.HasPrefix(*out.ContentRange, "bytes ") {
				t.Errorf("%s: %q %v", rg, got, out.ContentRange)
			}
		}
		_, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("sem"), Key: aws.String("k"), Range: aws.String("bytes=20-")})
		if errCode(err) != "InvalidRange" {
			t.Fatalf("range past end: %v", err)
		}
	})
	t.Run("conditionals", func(t *testing.T) {
		get := func(in *awss3.GetObjectInput) error {
			in.Bucket, in.Key = aws.String("sem"), aws.String("k")
			out, err := c.GetObject(ctx, in)
			if err == nil {
				out.Body.Close()
			}
			return err
		}
		past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		if err := get(&awss3.GetObjectInput{IfMatch: aws.String(etag)}); err != nil {
			t.Errorf("If-Match: %v", err)
		}
		if err := get(&awss3.GetObjectInput{IfMatch: aws.String(`"nope"`)}); errCode(err) != "PreconditionFailed" {
			t.Errorf("If-Match wrong: %v", err)
		}
		if err := get(&awss3.GetObjectInput{IfNoneMatch: aws.String(etag)}); !strings.Contains(fmt.Sprint(err), "304") {
			t.Errorf("If-None-Match: %v", err)
		}
		if err := get(&awss3.GetObjectInput{IfModifiedSince: aws.Time(future)}); !strings.Contains(fmt.Sprint(err), "304") {
			t.Errorf("If-Modified-Since future: %v", err)
		}
		if err := get(&awss3.GetObjectInput{IfModifiedSince: aws.Time(past)}); err != nil {
			t.Errorf("If-Modified-Since past: %v", err)
		}
		if err := get(&awss3.GetObjectInput{IfUnmodifiedSince: aws.Time(past)}); errCode(err) != "PreconditionFailed" {
			t.Errorf("If-Unmodified-Since past: %v", err)
		}
		if err := get(&awss3.GetObjectInput{IfMatch: aws.String(etag), IfUnmodifiedSince: aws.Time(past)}); err != nil {
			t.Errorf("If-Match overrides If-Unmodified-Since: %v", err)
		}
	})
	t.Run("response overrides", func(t *testing.T) {
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("sem"), Key: aws.String("k"),
			ResponseContentType: aws.String("application/x-test"), ResponseContentDisposition: aws.String("inline"),
			ResponseCacheControl: aws.String("no-cache")})
		if err != nil {
			t.Fatal(err)
		}
		out.Body.Close()
		if *out.ContentType != "application/x-test" || *out.ContentDisposition != "inline" || *out.CacheControl != "no-cache" {
			t.Fatalf("%v %v %v", *out.ContentType, *out.ContentDisposition, *out.CacheControl)
		}
	})
	t.Run("tagging", func(t *testing.T) {
		tg, err := c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("sem"), Key: aws.String("k")})
		if err != nil || len(tg.TagSet) != 2 {
			t.Fatalf("get tags: %v %v", tg, err)
		}
		_, err = c.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: aws.String("sem"), Key: aws.String("k"),
			Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("x"), Value: aws.String("y")}}}})
		if err != nil {
			t.Fatal(err)
		}
		tg, _ = c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("sem"), Key: aws.String("k")})
		if len(tg.TagSet) != 1 || *tg.TagSet[0].Key != "x" {
			t.Fatalf("tags %v", tg.TagSet)
		}
		if _, err := c.DeleteObjectTagging(ctx, &awss3.DeleteObjectTaggingInput{Bucket: aws.String("sem"), Key: aws.String("k")}); err != nil {
			t.Fatal(err)
		}
		tg, _ = c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("sem"), Key: aws.String("k")})
		if len(tg.TagSet) != 0 {
			t.Fatalf("tags after delete %v", tg.TagSet)
		}
	})
	t.Run("copy", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("sem"), Key: aws.String("k"), CopySource: aws.String("sem/k")})
		if errCode(err) != "InvalidRequest" {
			t.Fatalf("copy onto itself without REPLACE: %v", err)
		}
		_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("sem"), Key: aws.String("k"), CopySource: aws.String("sem/k"),
			MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"new": "meta"}, ContentType: aws.String("text/x-new")})
		if err != nil {
			t.Fatal(err)
		}
		h, _ := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("sem"), Key: aws.String("k")})
		if h.Metadata["new"] != "meta" || h.Metadata["colour"] != "" || *h.ContentType != "text/x-new" || *h.ETag != etag {
			t.Fatalf("after REPLACE: %v %v %v", h.Metadata, *h.ContentType, *h.ETag)
		}
		_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("sem"), Key: aws.String("k2"), CopySource: aws.String("sem/k"),
			CopySourceIfMatch: aws.String(`"other"`)})
		if errCode(err) != "PreconditionFailed" {
			t.Fatalf("copy-source-if-match: %v", err)
		}
		_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("sem"), Key: aws.String("k2"), CopySource: aws.String("sem/k"),
			CopySourceIfNoneMatch: aws.String(etag)})
		if errCode(err) != "PreconditionFailed" {
			t.Fatalf("copy-source-if-none-match: %v", err)
		}
		out, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("sem"), Key: aws.String("k2"), CopySource: aws.String("sem/k")})
		if err != nil || *out.CopyObjectResult.ETag != etag {
			t.Fatalf("copy: %v", err)
		}
		h, _ = c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("sem"), Key: aws.String("k2")})
		if h.Metadata["new"] != "meta" {
			t.Fatalf("COPY directive lost metadata: %v", h.Metadata)
		}
	})
	t.Run("delete objects quiet", func(t *testing.T) {
		for i := range 5 {
			mustPut(t, c, "sem", fmt.Sprintf("del/%d", i), data)
		}
		out, err := c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("sem"), Delete: &types.Delete{
			Objects: []types.ObjectIdentifier{{Key: aws.String("del/0")}, {Key: aws.String("del/1")}, {Key: aws.String("missing")}}}})
		if err != nil || len(out.Deleted) != 3 || len(out.Errors) != 0 {
			t.Fatalf("delete objects: %v %+v", err, out)
		}
		out, err = c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("sem"), Delete: &types.Delete{Quiet: aws.Bool(true),
			Objects: []types.ObjectIdentifier{{Key: aws.String("del/2")}, {Key: aws.String("del/3")}}}})
		if err != nil || len(out.Deleted) != 0 {
			t.Fatalf("quiet delete: %v %+v", err, out)
		}
		l, _ := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("sem"), Prefix: aws.String("del/")})
		if len(l.Contents) != 1 || *l.Contents[0].Key != "del/4" {
			t.Fatalf("left: %v", l.Contents)
		}
	})
	t.Run("errors", func(t *testing.T) {
		_, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("sem"), Key: aws.String("nope")})
		if errCode(err) != "NoSuchKey" {
			t.Errorf("missing key: %v", err)
		}
		_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("no-such-bucket"), Key: aws.String("k")})
		if errCode(err) != "NoSuchBucket" {
			t.Errorf("missing bucket: %v", err)
		}
		_, err = c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("Bad_Name")})
		if errCode(err) != "InvalidBucketName" {
			t.Errorf("bad name: %v", err)
		}
		_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("sem"), Key: aws.String(strings.Repeat("k", 1025)), Body: bytes.NewReader(data)})
		if errCode(err) != "KeyTooLongError" {
			t.Errorf("long key: %v", err)
		}
	})
}

// rawGet fetches a URL without signing and returns status, headers, body.
func rawGet(t *testing.T, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestAccessControl(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := awsFor(e, e.a)
	mustCreate(t, c, "priv")
	mustCreate(t, c, "pub")
	mustCreate(t, c, "pol")
	for _, b := range []string{"priv", "pub", "pol"} {
		mustPut(t, c, b, "public/x.txt", []byte("visible"))
		mustPut(t, c, b, "secret/y.txt", []byte("hidden"))
	}
	// As in S3, the bucket ACL governs listing and the object ACL reading.
	if _, err := c.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("pub"), ACL: types.BucketCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: aws.String("pub"), Key: aws.String("public/x.txt"), ACL: types.ObjectCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("priv"), Key: aws.String("shared.txt"), Body: strings.NewReader("shared"),
		ACL: types.ObjectCannedACLAuthenticatedRead}); err != nil {
		t.Fatal(err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/public/*"}]}`
	if _, err := c.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("pol"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		want int
	}{
		{"/priv/public/x.txt", 403}, {"/priv?list-type=2", 403}, {"/", 403},
		{"/pub/public/x.txt", 200}, {"/pub/secret/y.txt", 403}, {"/pub?list-type=2", 200}, {"/pub/missing", 404},
		{"/priv/missing", 403}, {"/priv/shared.txt", 403},
		{"/pol/public/x.txt", 200}, {"/pol/secret/y.txt", 403}, {"/pol?list-type=2", 403},
		{"/nosuch/x", 404},
	}
	for _, tc := range cases {
		code, hdr, body := rawGet(t, e.srv.URL+tc.path)
		if code != tc.want {
			t.Errorf("anonymous GET %s: %d, want %d: %s", tc.path, code, tc.want, body)
		}
		if hdr.Get("X-Amz-Request-Id") == "" {
			t.Errorf("GET %s: no x-amz-request-id", tc.path)
		}
		if code == 403 && (!strings.Contains(body, "<Code>AccessDenied</Code>") || !strings.Contains(body, "<RequestId>")) {
			t.Errorf("GET %s: error body %s", tc.path, body)
		}
	}
	// Anonymous writes are never allowed, even on a public bucket.
	req, _ := http.NewRequest(http.MethodPut, e.srv.URL+"/pub/anon", strings.NewReader("x"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("anonymous PUT: %d", resp.StatusCode)
	}
	acl, err := c.GetBucketAcl(ctx, &awss3.GetBucketAclInput{Bucket: aws.String("pub")})
	if err != nil || len(acl.Grants) != 2 {
		t.Fatalf("acl: %v %v", acl, err)
	}
	// Another project sees neither contents nor configuration.
	other := awsFor(e, e.b)
	if _, err := other.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: aws.String("pol")}); errCode(err) != "AccessDenied" {
		t.Errorf("other project policy: %v", err)
	}
	g, err := other.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("priv"), Key: aws.String("shared.txt")})
	if err != nil {
		t.Errorf("authenticated-read object, other project: %v", err)
	} else {
		g.Body.Close()
	}
	oacl, err := c.GetObjectAcl(ctx, &awss3.GetObjectAclInput{Bucket: aws.String("priv"), Key: aws.String("shared.txt")})
	if err != nil || len(oacl.Grants) != 2 || *oacl.Grants[0].Grantee.URI != "http://acs.amazonaws.com/groups/global/AuthenticatedUsers" {
		t.Errorf("object acl: %+v %v", oacl, err)
	}
	if _, err := other.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("pub"), Key: aws.String("w"), Body: strings.NewReader("x")}); errCode(err) != "AccessDenied" {
		t.Errorf("write to public-read bucket: %v", err)
	}
	if _, err := c.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("pub"), ACL: types.BucketCannedACLPublicReadWrite}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("pub"), Key: aws.String("w"), Body: strings.NewReader("x")}); err != nil {
		t.Errorf("write to public-read-write bucket: %v", err)
	}
	lb, err := other.ListBuckets(ctx, &awss3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 0 {
		t.Errorf("other project lists %v, %v", lb, err)
	}
	lb, err = c.ListBuckets(ctx, &awss3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 3 {
		t.Errorf("owner lists %v, %v", lb, err)
	}
	// Presigned URL: the signature is in the query, no headers needed.
	ps := awss3.NewPresignClient(c)
	pr, err := ps.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("priv"), Key: aws.String("secret/y.txt")},
		awss3.WithPresignExpires(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if code, _, body := rawGet(t, pr.URL); code != 200 || body != "hidden" {
		t.Errorf("presigned GET: %d %s", code, body)
	}
	tampered := strings.Replace(pr.URL, "/secret/y.txt", "/public/x.txt", 1)
	if tampered == pr.URL {
		t.Fatalf("presigned URL shape: %s", pr.URL)
	}
	if code, _, _ := rawGet(t, tampered); code != 403 {
		t.Errorf("presigned URL for another key: %d", code)
	}
	loc, err := c.GetBucketLocation(ctx, &awss3.GetBucketLocationInput{Bucket: aws.String("priv")})
	if err != nil || string(loc.LocationConstraint) != region {
		t.Errorf("location %v %v", loc, err)
	}
	v, err := c.GetBucketVersioning(ctx, &awss3.GetBucketVersioningInput{Bucket: aws.String("priv")})
	if err != nil || v.Status != "" {
		t.Errorf("versioning %v %v", v, err)
	}
}

func TestQuotaExceeded(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := awsFor(e, e.a)
	mustCreate(t, c, "quota")
	e.quota.limit[e.a.project] = 1000
	mustPut(t, c, "quota", "fits", make([]byte, 600))
	_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("quota"), Key: aws.String("too-much"), Body: bytes.NewReader(make([]byte, 600))})
	if errCode(err) != "QuotaExceeded" {
		t.Fatalf("over quota: %v", err)
	}
	// Overwriting in place is still checked against the limit, then the
	// released reservation lets a smaller object in.
	mustPut(t, c, "quota", "small", make([]byte, 300))
	l, _ := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("quota")})
	if len(l.Contents) != 2 {
		t.Fatalf("objects %v", l.Contents)
	}

	// Metrics count operations by status, and payload bytes.
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := ""
			for _, lp := range m.GetLabel() {
				labels += lp.GetName() + "=" + lp.GetValue() + ","
			}
			if m.Counter != nil {
				found[mf.GetName()+"{"+labels+"}"] = m.Counter.GetValue()
			}
		}
	}
	if found["stowage_s3_requests_total{code=200,op=PutObject,}"] != 2 || found["stowage_s3_requests_total{code=403,op=PutObject,}"] != 1 ||
		found["stowage_s3_received_bytes_total{op=PutObject,}"] != 900 {
		t.Errorf("metrics: %v", found)
	}
}

func TestPublicAccessBlockAndOwnership(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := awsFor(e, e.a)
	mustCreate(t, c, "blk")
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("blk"), Key: aws.String("p"), Body: strings.NewReader("p"),
		ACL: types.ObjectCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := rawGet(t, e.srv.URL+"/blk/p"); code != 200 {
		t.Fatalf("public object: %d", code)
	}
	if _, err := c.GetPublicAccessBlock(ctx, &awss3.GetPublicAccessBlockInput{Bucket: aws.String("blk")}); errCode(err) != "NoSuchPublicAccessBlockConfiguration" {
		t.Errorf("no block yet: %v", err)
	}
	_, err := c.PutPublicAccessBlock(ctx, &awss3.PutPublicAccessBlockInput{Bucket: aws.String("blk"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{IgnorePublicAcls: aws.Bool(true), BlockPublicAcls: aws.Bool(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := rawGet(t, e.srv.URL+"/blk/p"); code != 403 {
		t.Errorf("IgnorePublicAcls: %d", code)
	}
	if _, err := c.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: aws.String("blk"), Key: aws.String("p"), ACL: types.ObjectCannedACLPublicRead}); errCode(err) != "AccessDenied" {
		t.Errorf("BlockPublicAcls: %v", err)
	}
	if _, err := c.DeletePublicAccessBlock(ctx, &awss3.DeletePublicAccessBlockInput{Bucket: aws.String("blk")}); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := rawGet(t, e.srv.URL+"/blk/p"); code != 200 {
		t.Errorf("after delete: %d", code)
	}

	if _, err := c.GetBucketOwnershipControls(ctx, &awss3.GetBucketOwnershipControlsInput{Bucket: aws.String("blk")}); errCode(err) != "OwnershipControlsNotFoundError" {
		t.Errorf("no ownership controls: %v", err)
	}
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("enforced"), ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced}); err != nil {
		t.Fatal(err)
	}
	oc, err := c.GetBucketOwnershipControls(ctx, &awss3.GetBucketOwnershipControlsInput{Bucket: aws.String("enforced")})
	if err != nil || oc.OwnershipControls.Rules[0].ObjectOwnership != types.ObjectOwnershipBucketOwnerEnforced {
		t.Fatalf("ownership: %v %v", oc, err)
	}
	_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("enforced"), Key: aws.String("x"), Body: strings.NewReader("x"), ACL: types.ObjectCannedACLPublicRead})
	if errCode(err) != "AccessControlListNotSupported" {
		t.Errorf("ACL on an enforced bucket: %v", err)
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := awsFor(e, e.a)
	mustCreate(t, c, "cors")
	if _, err := c.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String("cors")}); errCode(err) != "NoSuchCORSConfiguration" {
		t.Fatalf("no rules yet: %v", err)
	}
	_, err := c.PutBucketCors(ctx, &awss3.PutBucketCorsInput{Bucket: aws.String("cors"), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedOrigins: []string{"https://*.example.com"}, AllowedMethods: []string{"GET", "PUT"},
			AllowedHeaders: []string{"x-amz-*"}, MaxAgeSeconds: aws.Int32(600)}}}})
	if err != nil {
		t.Fatal(err)
	}
	preflight := func(origin, method, headers string) (int, http.Header) {
		req, _ := http.NewRequest(http.MethodOptions, e.srv.URL+"/cors/obj", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", method)
		if headers != "" {
			req.Header.Set("Access-Control-Request-Headers", headers)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	if code, h := preflight("https://app.example.com", "PUT", "x-amz-meta-a"); code != 200 ||
		h.Get("Access-Control-Allow-Origin") != "https://app.example.com" || h.Get("Access-Control-Max-Age") != "600" {
		t.Errorf("allowed preflight: %d %v", code, h)
	}
	if code, _ := preflight("https://evil.test", "GET", ""); code != 403 {
		t.Errorf("foreign origin: %d", code)
	}
	if code, _ := preflight("https://app.example.com", "DELETE", ""); code != 403 {
		t.Errorf("method not allowed: %d", code)
	}
	if code, _ := preflight("https://app.example.com", "GET", "authorization"); code != 403 {
		t.Errorf("header not allowed: %d", code)
	}
	if _, err := c.DeleteBucketCors(ctx, &awss3.DeleteBucketCorsInput{Bucket: aws.String("cors")}); err != nil {
		t.Fatal(err)
	}
	if code, _ := preflight("https://app.example.com", "GET", ""); code != 403 {
		t.Errorf("after delete: %d", code)
	}
}

func TestObjectAttributes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := awsFor(e, e.a)
	mustCreate(t, c, "attrs")
	put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("attrs"), Key: aws.String("k"), Body: strings.NewReader("foo"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObjectAttributes(ctx, &awss3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("k"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesChecksum,
			types.ObjectAttributesObjectSize, types.ObjectAttributesStorageClass, types.ObjectAttributesObjectParts}})
	if err != nil {
		t.Fatal(err)
	}
	if *out.ObjectSize != 3 || `"`+*out.ETag+`"` != *put.ETag || out.StorageClass != types.StorageClassStandard ||
		out.Checksum == nil || *out.Checksum.ChecksumSHA256 != *put.ChecksumSHA256 || out.ObjectParts != nil {
		t.Fatalf("attributes: %+v", out)
	}
}

func TestListBucketsPaginated(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := awsFor(e, e.a)
	for _, n := range []string{"pg-a", "pg-b", "pg-c", "other"} {
		mustCreate(t, c, n)
	}
	var names []string
	var token *string
	for range 10 {
		out, err := c.ListBuckets(ctx, &awss3.ListBucketsInput{MaxBuckets: aws.Int32(2), ContinuationToken: token, Prefix: aws.String("pg-")})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range out.Buckets {
			names = append(names, *b.Name)
		}
		if out.ContinuationToken == nil {
			break
		}
		token = out.ContinuationToken
	}
	if strings.Join(names, ",") != "pg-a,pg-b,pg-c" {
		t.Fatalf("paged buckets %v", names)
	}
}
