package s3_test

import "testing"

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
