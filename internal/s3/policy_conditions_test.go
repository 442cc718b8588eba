package s3_test

import (
	"strings"
	"testing"
)

// TestPolicyConditionsAndNotForms drives bucket policies through boto3 as
// s3-tests' policy families do: Numeric and Date operators, aws:CurrentTime,
// s3:max-keys, s3:ExistingObjectTag/…, s3:RequestObjectTag/…,
// s3:x-amz-server-side-encryption, Deny over Allow, NotPrincipal,
// NotAction and NotResource, and another project named by its canonical
// id (the only way across the tenant wall). Each of these was refused as
// MalformedPolicy or left unknown (an Allow granting nothing) before.
func TestPolicyConditionsAndNotForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	script := `
import json
A, B = "PROJECT_A", "PROJECT_B"
def policy(bucket, *statements):
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))
s3.create_bucket(Bucket="cond")
# A grant to everyone from fixed addresses only is not public; from anywhere it is.
policy("cond", {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::cond",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/32"}}})
assert s3.get_bucket_policy_status(Bucket="cond")["PolicyStatus"]["IsPublic"] is False
policy("cond", {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::cond",
                "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/32", "0.0.0.0/0"]}}})
assert s3.get_bucket_policy_status(Bucket="cond")["PolicyStatus"]["IsPublic"] is True
for k in ("a", "b", "c"):
    s3.put_object(Bucket="cond", Key=k, Body=b"x")

# Numeric: another project may list only in pages of at most 10.
policy("cond", {"Effect": "Allow", "Principal": {"CanonicalUser": B}, "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::cond",
                "Condition": {"NumericLessThanEquals": {"s3:max-keys": "10"}}})
assert len(other.list_objects(Bucket="cond", MaxKeys=2)["Contents"]) == 2
expect("AccessDenied", lambda: other.list_objects(Bucket="cond", MaxKeys=50), 403)
expect("AccessDenied", lambda: other.list_objects(Bucket="cond"), 403)   # the key is missing: a positive operator fails
expect("AccessDenied", lambda: anon.list_objects(Bucket="cond", MaxKeys=2), 403)

# Date on aws:CurrentTime, and Deny winning over Allow (and over the owner).
policy("cond",
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::" + B + ":root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::cond/*",
     "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2001-01-01T00:00:00Z"}}},
    {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::cond/c",
     "Condition": {"DateLessThan": {"aws:CurrentTime": "2999-01-01"}}})
assert other.get_object(Bucket="cond", Key="a")["Body"].read() == b"x"
expect("AccessDenied", lambda: other.get_object(Bucket="cond", Key="c"), 403)
expect("AccessDenied", lambda: s3.get_object(Bucket="cond", Key="c"), 403)
policy("cond", {"Effect": "Allow", "Principal": {"AWS": B}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::cond/*",
                "Condition": {"DateLessThan": {"aws:CurrentTime": "2001-01-01T00:00:00Z"}}})
expect("AccessDenied", lambda: other.get_object(Bucket="cond", Key="a"), 403)

# ExistingObjectTag: only objects tagged security=public are shared, for
# GetObject and GetObjectTagging alike.
s3.put_object_tagging(Bucket="cond", Key="a", Tagging={"TagSet": [{"Key": "security", "Value": "public"}]})
s3.put_object_tagging(Bucket="cond", Key="b", Tagging={"TagSet": [{"Key": "security", "Value": "private"}]})
policy("cond", {"Effect": "Allow", "Principal": {"AWS": B}, "Action": ["s3:GetObject", "s3:GetObjectTagging"], "Resource": "arn:aws:s3:::cond/*",
                "Condition": {"StringEquals": {"s3:ExistingObjectTag/security": "public"}}})
assert other.get_object(Bucket="cond", Key="a")["Body"].read() == b"x"
assert other.get_object_tagging(Bucket="cond", Key="a")["TagSet"] == [{"Key": "security", "Value": "public"}]
for k in ("b", "c"):
    expect("AccessDenied", lambda: other.get_object(Bucket="cond", Key=k), 403)
    expect("AccessDenied", lambda: other.get_object_tagging(Bucket="cond", Key=k), 403)

# RequestObjectTag: another project may write only objects it tags team=blue.
policy("cond", {"Effect": "Allow", "Principal": {"AWS": B}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::cond/*",
                "Condition": {"StringEquals": {"s3:RequestObjectTag/team": "blue"}}})
other.put_object(Bucket="cond", Key="blue", Body=b"b", Tagging="team=blue")
expect("AccessDenied", lambda: other.put_object(Bucket="cond", Key="red", Body=b"r", Tagging="team=red"), 403)
expect("AccessDenied", lambda: other.put_object(Bucket="cond", Key="none", Body=b"r"), 403)

# s3:x-amz-server-side-encryption: unencrypted writes are refused, even the owner's.
policy("cond", {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::cond/*",
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}})
expect("AccessDenied", lambda: s3.put_object(Bucket="cond", Key="plain", Body=b"p"), 403)
s3.put_object(Bucket="cond", Key="sealed", Body=b"p", ServerSideEncryption="AES256")

# NotPrincipal: a Deny of everyone but the owner refuses the project an Allow named.
policy("cond",
    {"Effect": "Allow", "Principal": {"AWS": B}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::cond/*"},
    {"Effect": "Deny", "NotPrincipal": {"AWS": A}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::cond/c"})
assert other.get_object(Bucket="cond", Key="a")["Body"].read() == b"x"
expect("AccessDenied", lambda: other.get_object(Bucket="cond", Key="c"), 403)
assert s3.get_object(Bucket="cond", Key="c")["Body"].read() == b"x"

# NotAction: everything but deleting.
policy("cond", {"Effect": "Allow", "Principal": {"AWS": B}, "NotAction": ["s3:DeleteObject", "s3:PutObject"], "Resource": "arn:aws:s3:::cond/*"})
assert other.get_object(Bucket="cond", Key="a")["Body"].read() == b"x"
expect("AccessDenied", lambda: other.delete_object(Bucket="cond", Key="a"), 403)
expect("AccessDenied", lambda: other.put_object(Bucket="cond", Key="a", Body=b"y"), 403)
# ... and a NotAction Allow to everyone never changes the bucket.
policy("cond", {"Effect": "Allow", "Principal": "*", "NotAction": "s3:GetObject", "Resource": ["arn:aws:s3:::cond", "arn:aws:s3:::cond/*"]})
expect("AccessDenied", lambda: other.put_bucket_tagging(Bucket="cond", Tagging={"TagSet": []}), 403)
expect("AccessDenied", lambda: anon.delete_bucket_policy(Bucket="cond"), 403)

# NotResource: reads outside pub/ are refused, the owner's included.
s3.put_object(Bucket="cond", Key="pub/x", Body=b"x")
policy("cond", {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::cond/pub/*"})
assert s3.get_object(Bucket="cond", Key="pub/x")["Body"].read() == b"x"
expect("AccessDenied", lambda: s3.get_object(Bucket="cond", Key="a"), 403)

# NotPrincipal only denies, as in S3: an Allow to everyone but a few
# would open the bucket to every other tenant.
expect("MalformedPolicy", lambda: policy("cond", {"Effect": "Allow", "NotPrincipal": {"AWS": B}, "Action": "s3:ListBucket",
                                                  "Resource": "arn:aws:s3:::cond"}), 400)
expect("AccessDenied", lambda: other.get_object(Bucket="cond", Key="pub/x"), 403)
`
	script = strings.NewReplacer("PROJECT_A", e.a.project, "PROJECT_B", e.b.project).Replace(script)
	runBoto3(t, e, script)
}

// TestPolicyWildcardResourcesAndAbsentKeys: a policy's resources may be
// patterns that match its bucket ("arn:aws:s3:::*", "…:::*/*"), which S3
// accepts and which were MalformedPolicy; one naming another bucket is
// still refused. HEAD of a missing key tells NoSuchKey (404) to a caller
// a policy lets list under an s3:prefix that covers the key, and 403
// elsewhere; it was 403 everywhere, the listing check having no prefix.
func TestPolicyWildcardResourcesAndAbsentKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runBoto3(t, e, `
import json
s3.create_bucket(Bucket="wild")
s3.put_object(Bucket="wild", Key="k", Body=b"x")
def policy(resources, action="s3:ListBucket", cond=None):
    st = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": action, "Resource": resources}
    if cond:
        st["Condition"] = cond
    return json.dumps({"Version": "2012-10-17", "Statement": [st]})
s3.put_bucket_policy(Bucket="wild", Policy=policy(["arn:aws:s3:::*", "arn:aws:s3:::*/*"]))
assert [o["Key"] for o in other.list_objects(Bucket="wild")["Contents"]] == ["k"]
s3.put_bucket_policy(Bucket="wild", Policy=policy(["arn:aws:s3:::wi*"]))
expect("MalformedPolicy", lambda: s3.put_bucket_policy(Bucket="wild", Policy=policy(["arn:aws:s3:::other"])), 400)
expect("MalformedPolicy", lambda: s3.put_bucket_policy(Bucket="wild", Policy=policy(["arn:aws:s3:::other/*"])), 400)

s3.put_bucket_policy(Bucket="wild", Policy=policy("arn:aws:s3:::wild", cond={"StringLike": {"s3:prefix": "public/*"}}))
def head_status(key):
    try:
        other.head_object(Bucket="wild", Key=key)
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"]
    return 200
assert head_status("public/missing") == 404
assert head_status("private/missing") == 403
`)
}
