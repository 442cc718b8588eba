package s3_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/s3"
)

// TestLifecycleConfiguration: Put/Get/DeleteBucketLifecycleConfiguration
// through boto3 with prefix, tag and size filters, expiration by days,
// date and of delete markers, noncurrent expiration and aborting uploads;
// S3's refusals (a long or repeated ID, a bad status or date, a rule
// without action, transitions: there is one storage class); and
// x-amz-expiration on PUT, GET and HEAD of objects a rule covers. Every
// lifecycle call answered NotImplemented before.
func TestLifecycleConfiguration(t *testing.T) {
	t.Parallel()
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := newEnvOn(t, backend)
			runBoto3(t, e, `
import datetime
s3.create_bucket(Bucket="lcb")
expect("NoSuchLifecycleConfiguration", lambda: s3.get_bucket_lifecycle_configuration(Bucket="lcb"), 404)
assert s3.delete_bucket_lifecycle(Bucket="lcb")["ResponseMetadata"]["HTTPStatusCode"] == 204
rules = [
    {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 3}},
    {"ID": "tmp", "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "kind", "Value": "scratch"}], "ObjectSizeGreaterThan": 10}},
     "Status": "Enabled", "Expiration": {"Date": datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)}},
    {"ID": "old", "Filter": {}, "Status": "Disabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
    {"ID": "markers", "Prefix": "m/", "Status": "Enabled", "Expiration": {"ExpiredObjectDeleteMarker": True}},
]
s3.put_bucket_lifecycle_configuration(Bucket="lcb", LifecycleConfiguration={"Rules": rules})
got = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket="lcb")["Rules"]}
assert got["logs"]["Filter"] == {"Prefix": "logs/"} and got["logs"]["Expiration"] == {"Days": 3}, got["logs"]
assert got["tmp"]["Filter"]["And"] == {"Prefix": "tmp/", "Tags": [{"Key": "kind", "Value": "scratch"}], "ObjectSizeGreaterThan": 10}, got["tmp"]
assert got["tmp"]["Expiration"]["Date"].year == 2030, got["tmp"]
assert got["old"]["Status"] == "Disabled" and got["old"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2}, got["old"]
assert got["old"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}, got["old"]
assert got["markers"]["Prefix"] == "m/" and got["markers"]["Expiration"] == {"ExpiredObjectDeleteMarker": True}, got["markers"]

# x-amz-expiration: Days from the write, rounded up to midnight UTC.
r = s3.put_object(Bucket="lcb", Key="logs/a", Body=b"x")
assert r["Expiration"].startswith('expiry-date="') and r["Expiration"].endswith('", rule-id="logs"'), r
for call in (s3.head_object, s3.get_object):
    h = call(Bucket="lcb", Key="logs/a")
    assert h["Expiration"] == r["Expiration"], h
    assert "00:00:00 GMT" in h["Expiration"], h
assert "Expiration" not in s3.put_object(Bucket="lcb", Key="other", Body=b"x")
assert "Expiration" not in s3.put_object(Bucket="lcb", Key="tmp/small", Body=b"x", Tagging="kind=scratch")
r = s3.put_object(Bucket="lcb", Key="tmp/big", Body=b"x" * 100, Tagging="kind=scratch")
assert r["Expiration"] == 'expiry-date="Tue, 01 Jan 2030 00:00:00 GMT", rule-id="tmp"', r

def bad(code, rule, status=400):
    expect(code, lambda: s3.put_bucket_lifecycle_configuration(Bucket="lcb", LifecycleConfiguration={"Rules": [rule]}), status)
bad("InvalidArgument", {"ID": "a" * 256, "Prefix": "", "Status": "Enabled", "Expiration": {"Days": 1}})
bad("MalformedXML", {"ID": "r", "Prefix": "", "Status": "enabled", "Expiration": {"Days": 1}})
bad("InvalidArgument", {"ID": "r", "Prefix": "", "Status": "Enabled", "Expiration": {"Date": datetime.datetime(2030, 1, 1, 12, tzinfo=datetime.timezone.utc)}})
bad("InvalidRequest", {"ID": "r", "Prefix": "", "Status": "Enabled"})
bad("InvalidStorageClass", {"ID": "r", "Prefix": "", "Status": "Enabled", "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]})
expect("InvalidArgument", lambda: s3.put_bucket_lifecycle_configuration(Bucket="lcb", LifecycleConfiguration={"Rules": [
    {"ID": "same", "Prefix": "a", "Status": "Enabled", "Expiration": {"Days": 1}},
    {"ID": "same", "Prefix": "b", "Status": "Enabled", "Expiration": {"Days": 2}}]}), 400)
expect("AccessDenied", lambda: other.get_bucket_lifecycle_configuration(Bucket="lcb"), 403)
expect("AccessDenied", lambda: other.delete_bucket_lifecycle(Bucket="lcb"), 403)
assert len(s3.get_bucket_lifecycle_configuration(Bucket="lcb")["Rules"]) == 4
s3.delete_bucket_lifecycle(Bucket="lcb")
expect("NoSuchLifecycleConfiguration", lambda: s3.get_bucket_lifecycle_configuration(Bucket="lcb"), 404)
assert "Expiration" not in s3.head_object(Bucket="lcb", Key="logs/a")
`)
		})
	}
}

// TestLifecycleJob: a lifecycle pass, run by a handler whose clock is
// three days ahead, expires current versions a rule covers (tags and size
// included), noncurrent versions past their days but the newest ones a
// rule keeps (NewerNoncurrentVersions), delete markers left alone,
// and stale multipart uploads; what it removes leaves the bucket's usage;
// a second pass finds nothing more (idempotent).
func TestLifecycleJob(t *testing.T) {
	t.Parallel()
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			lifecycleJob(t, newEnvOn(t, backend))
		})
	}
}

func lifecycleJob(t *testing.T, e *env) {
	runBoto3(t, e, `
s3.create_bucket(Bucket="expire")
s3.put_bucket_lifecycle_configuration(Bucket="expire", LifecycleConfiguration={"Rules": [
    {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 1}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
    {"ID": "tagged", "Filter": {"And": {"Prefix": "t/", "Tags": [{"Key": "tmp", "Value": "yes"}]}}, "Status": "Enabled", "Expiration": {"Days": 2}},
    {"ID": "big", "Filter": {"ObjectSizeGreaterThan": 1000}, "Status": "Enabled", "Expiration": {"Days": 1}},
    {"ID": "later", "Filter": {"Prefix": "later/"}, "Status": "Enabled", "Expiration": {"Days": 30}},
    {"ID": "off", "Filter": {"Prefix": "off/"}, "Status": "Disabled", "Expiration": {"Days": 1}}]})
for k in ("logs/a", "logs/b", "keep", "later/x", "off/x", "small"):
    s3.put_object(Bucket="expire", Key=k, Body=b"x" * 100)
s3.put_object(Bucket="expire", Key="large", Body=b"x" * 5000)
s3.put_object(Bucket="expire", Key="t/yes", Body=b"x", Tagging="tmp=yes")
s3.put_object(Bucket="expire", Key="t/no", Body=b"x", Tagging="tmp=no")
s3.create_multipart_upload(Bucket="expire", Key="logs/upload")
s3.create_multipart_upload(Bucket="expire", Key="other/upload")

s3.create_bucket(Bucket="versions")
s3.put_bucket_versioning(Bucket="versions", VersioningConfiguration={"Status": "Enabled"})
s3.put_bucket_lifecycle_configuration(Bucket="versions", LifecycleConfiguration={"Rules": [
    {"ID": "nc", "Filter": {"Prefix": "k"}, "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 1}},
    {"ID": "dm", "Filter": {"Prefix": "d"}, "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
     "Expiration": {"ExpiredObjectDeleteMarker": True}}]})
for i in range(4):
    s3.put_object(Bucket="versions", Key="k", Body=b"v%d" % i)
s3.put_object(Bucket="versions", Key="d", Body=b"d")
s3.delete_object(Bucket="versions", Key="d")
`)
	ctx := context.Background()
	before, err := e.store.BucketConfig(ctx, "expire")
	if err != nil {
		t.Fatal(err)
	}
	o := e.opts
	o.Now = func() time.Time { return time.Now().Add(72 * time.Hour) }
	later, err := s3.New(o)
	if err != nil {
		t.Fatal(err)
	}
	var total s3.LifecycleStats
	for pass := 0; ; pass++ {
		st, err := later.RunLifecycle(ctx, e.store)
		if err != nil {
			t.Fatal(err)
		}
		if st == (s3.LifecycleStats{}) {
			break
		}
		if pass == 3 {
			t.Fatalf("pass %d still removed %+v", pass, st)
		}
		total.Expired += st.Expired
		total.Versions += st.Versions
		total.Markers += st.Markers
		total.Uploads += st.Uploads
	}
	if want := (s3.LifecycleStats{Expired: 4, Versions: 3, Markers: 1, Uploads: 1}); total != want {
		t.Errorf("removed %+v, want %+v", total, want)
	}
	after, err := e.store.ListBuckets(ctx, e.a.project)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range after {
		if b.Name == "expire" && (b.Objects != before.Objects-4 || b.Bytes != before.Bytes-5201) {
			t.Errorf("usage after expiry: %d objects, %d bytes; before %d, %d", b.Objects, b.Bytes, before.Objects, before.Bytes)
		}
	}
	runBoto3(t, e, `
keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="expire")["Contents"])
assert keys == ["keep", "later/x", "off/x", "small", "t/no"], keys
assert [u["Key"] for u in s3.list_multipart_uploads(Bucket="expire").get("Uploads", [])] == ["other/upload"]
vs = s3.list_object_versions(Bucket="versions")
assert [(v["Key"], v["IsLatest"]) for v in vs["Versions"]] == [("k", True), ("k", False)], vs
assert not vs.get("DeleteMarkers"), vs
assert s3.get_object(Bucket="versions", Key="k")["Body"].read() == b"v3"
`)
}

// TestLifecycleExpiryJudgesInTransaction: the store's batch expiry (what
// the lifecycle job commits) skips, in its own transaction, an object
// rewritten since the job listed it, one under legal hold and one already
// gone; it expires the rest (a delete marker in a versioned bucket) and
// moves the usage counters by exactly what it removed. The job used to
// compare Modified on a re-read and delete in a separate transaction, so
// a rewrite in between was expired.
func TestLifecycleExpiryJudgesInTransaction(t *testing.T) {
	t.Parallel()
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := newEnvOn(t, backend)
			ctx := context.Background()
			c := awsFor(e, e.a)
			put := func(b, k, body string) *awss3.PutObjectOutput {
				t.Helper()
				out, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(k), Body: strings.NewReader(body)})
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			listed := func(b string) (bucket.Bucket, []bucket.Object) {
				t.Helper()
				bk, err := e.store.BucketConfig(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				os, err := e.store.ListObjects(ctx, bk.ID, bucket.ListQuery{Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				return bk, os
			}
			if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("plain")}); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"gone", "old", "rewritten"} {
				put("plain", k, "12345")
			}
			bk, os := listed("plain")
			put("plain", "rewritten", "1234567")
			if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("plain"), Key: aws.String("gone")}); err != nil {
				t.Fatal(err)
			}
			n, _, err := e.store.ExpireObjects(ctx, bk.ID, os, time.Now())
			if err != nil || n != 1 {
				t.Fatalf("expired %d (%v), want 1: old", n, err)
			}
			if _, left := listed("plain"); len(left) != 1 || left[0].Key != "rewritten" || left[0].Size != 7 {
				t.Errorf("left %+v, want rewritten (7 bytes)", left)
			}
			bs, err := e.store.ListBuckets(ctx, e.a.project)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range bs {
				if b.Name == "plain" && (b.Objects != 1 || b.Bytes != 7) {
					t.Errorf("usage %d objects, %d bytes; want 1, 7", b.Objects, b.Bytes)
				}
			}

			if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("locked"), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
				t.Fatal(err)
			}
			put("locked", "free", "x")
			held := put("locked", "held", "x")
			if _, err := c.PutObjectLegalHold(ctx, &awss3.PutObjectLegalHoldInput{Bucket: aws.String("locked"), Key: aws.String("held"), VersionId: held.VersionId,
				LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn}}); err != nil {
				t.Fatal(err)
			}
			bk, os = listed("locked")
			if n, _, err := e.store.ExpireObjects(ctx, bk.ID, os, time.Now()); err != nil || n != 1 {
				t.Fatalf("expired %d (%v) in the locked bucket, want 1: free", n, err)
			}
			vs, err := c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: aws.String("locked")})
			if err != nil {
				t.Fatal(err)
			}
			if len(vs.DeleteMarkers) != 1 || *vs.DeleteMarkers[0].Key != "free" || !*vs.DeleteMarkers[0].IsLatest || len(vs.Versions) != 2 {
				t.Errorf("versions after expiry: markers %+v, %d versions; want a marker on free over both versions", vs.DeleteMarkers, len(vs.Versions))
			}
			if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("locked"), Key: aws.String("held")}); err != nil {
				t.Errorf("held object: %v", err)
			}
		})
	}
}
