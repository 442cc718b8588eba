package s3_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestACLGrantsToAccounts: x-amz-grant-* headers and AccessControlPolicy
// bodies grant another project (by canonical id) or a group READ, WRITE,
// READ_ACP, WRITE_ACP or FULL_CONTROL; the grants are enforced on reads and
// writes, shown by Get*Acl, voided by BucketOwnerEnforced, and group grants
// are subject to the public access block. Grants beyond a canned ACL
// answered NotImplemented before.
func TestACLGrantsToAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	script := `
A, B = "PROJECT_A", "PROJECT_B"
def grants(acl):
    return sorted((g["Grantee"].get("ID") or g["Grantee"].get("URI"), g["Permission"]) for g in acl["Grants"])
s3.create_bucket(Bucket="grants")
assert s3.get_bucket_policy_status(Bucket="grants")["PolicyStatus"]["IsPublic"] is False
s3.put_bucket_acl(Bucket="grants", ACL="authenticated-read")
assert s3.get_bucket_policy_status(Bucket="grants")["PolicyStatus"]["IsPublic"] is True
s3.put_bucket_acl(Bucket="grants", ACL="private")
s3.put_object(Bucket="grants", Key="o", Body=b"data")
expect("AccessDenied", lambda: other.list_objects(Bucket="grants"), 403)

# Bucket READ by header: the other project lists, and nothing more.
s3.put_bucket_acl(Bucket="grants", GrantRead='id="%s"' % B)
assert grants(s3.get_bucket_acl(Bucket="grants")) == sorted([(B, "READ"), (A, "FULL_CONTROL")])
assert [o["Key"] for o in other.list_objects(Bucket="grants")["Contents"]] == ["o"]
expect("AccessDenied", lambda: other.put_object(Bucket="grants", Key="x", Body=b"x"), 403)
expect("AccessDenied", lambda: other.get_object(Bucket="grants", Key="o"), 403)
expect("AccessDenied", lambda: other.get_bucket_acl(Bucket="grants"), 403)
expect("AccessDenied", lambda: anon.list_objects(Bucket="grants"), 403)

# Bucket WRITE and READ_ACP by an AccessControlPolicy body.
owner = {"ID": A}
s3.put_bucket_acl(Bucket="grants", AccessControlPolicy={"Owner": owner, "Grants": [
    {"Grantee": {"Type": "CanonicalUser", "ID": B}, "Permission": "WRITE"},
    {"Grantee": {"Type": "CanonicalUser", "ID": B}, "Permission": "READ_ACP"},
    {"Grantee": {"Type": "CanonicalUser", "ID": A}, "Permission": "FULL_CONTROL"}]})
other.put_object(Bucket="grants", Key="from-b", Body=b"b")
assert grants(other.get_bucket_acl(Bucket="grants")) == sorted([(B, "WRITE"), (B, "READ_ACP"), (A, "FULL_CONTROL")])
expect("AccessDenied", lambda: other.put_bucket_acl(Bucket="grants", ACL="public-read"), 403)
expect("AccessDenied", lambda: other.list_objects(Bucket="grants"), 403)

# Object grants: READ reads the object, READ_ACP its ACL, FULL_CONTROL both and WRITE_ACP.
s3.put_object(Bucket="grants", Key="shared", Body=b"shared", GrantRead='id="%s"' % B)
assert other.get_object(Bucket="grants", Key="shared")["Body"].read() == b"shared"
expect("AccessDenied", lambda: other.get_object_acl(Bucket="grants", Key="shared"), 403)
s3.put_object_acl(Bucket="grants", Key="shared", GrantFullControl='id="%s"' % B)
assert grants(other.get_object_acl(Bucket="grants", Key="shared")) == sorted([(B, "FULL_CONTROL"), (A, "FULL_CONTROL")])
other.put_object_acl(Bucket="grants", Key="shared", GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"')
assert anon.get_object(Bucket="grants", Key="shared")["Body"].read() == b"shared"
expect("AccessDenied", lambda: other.put_object_acl(Bucket="grants", Key="shared", ACL="private"), 403)

# Refusals: an unknown kind of grantee, an email, both forms at once.
expect("InvalidArgument", lambda: s3.put_object(Bucket="grants", Key="g", Body=b"x", GrantRead='id="not-a-project"'), 400)
expect("UnresolvableGrantByEmailAddress", lambda: s3.put_object(Bucket="grants", Key="g", Body=b"x", GrantRead='emailAddress="x@example.com"'), 400)
expect("InvalidRequest", lambda: s3.put_object(Bucket="grants", Key="g", Body=b"x", ACL="public-read", GrantRead='id="%s"' % B), 400)

# The public access block: BlockPublicAcls refuses group grants only,
# IgnorePublicAcls voids them and keeps grants to accounts.
s3.put_object(Bucket="grants", Key="both", Body=b"both", GrantRead='id="%s", uri="http://acs.amazonaws.com/groups/global/AllUsers"' % B)
s3.put_public_access_block(Bucket="grants", PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
expect("AccessDenied", lambda: s3.put_object(Bucket="grants", Key="g", Body=b"x", GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"'), 403)
s3.put_object(Bucket="grants", Key="g", Body=b"x", GrantRead='id="%s"' % B)
assert other.get_object(Bucket="grants", Key="both")["Body"].read() == b"both"
expect("AccessDenied", lambda: anon.get_object(Bucket="grants", Key="both"), 403)
s3.delete_public_access_block(Bucket="grants")

# BucketOwnerEnforced disables ACLs: grants are refused and void, and
# the bucket's own grants must go first.
expect("InvalidBucketAclWithObjectOwnership", lambda: s3.put_bucket_ownership_controls(Bucket="grants", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}), 400)
s3.put_bucket_acl(Bucket="grants", ACL="private")
s3.put_bucket_ownership_controls(Bucket="grants", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
expect("AccessDenied", lambda: other.get_object(Bucket="grants", Key="g"), 403)
expect("AccessDenied", lambda: other.put_object(Bucket="grants", Key="x", Body=b"x"), 403)
expect("AccessControlListNotSupported", lambda: s3.put_object(Bucket="grants", Key="h", Body=b"x", GrantRead='id="%s"' % B), 400)
expect("AccessControlListNotSupported", lambda: s3.put_bucket_acl(Bucket="grants", GrantRead='id="%s"' % B), 400)
expect("AccessControlListNotSupported", lambda: s3.put_object(Bucket="grants", Key="h", Body=b"x", ACL="private"), 400)
expect("AccessControlListNotSupported", lambda: other.put_bucket_acl(Bucket="grants", ACL="private"), 400)
s3.put_object(Bucket="grants", Key="h", Body=b"x", ACL="bucket-owner-full-control")
s3.delete_bucket_ownership_controls(Bucket="grants")
assert other.get_object(Bucket="grants", Key="g")["Body"].read() == b"x"
`
	runBoto3(t, e, strings.NewReplacer("PROJECT_A", e.a.project, "PROJECT_B", e.b.project).Replace(script))

	// The Go SDK reads the grant to the other project back.
	out, err := awsFor(e, e.a).GetObjectAcl(context.Background(), &awss3.GetObjectAclInput{Bucket: aws.String("grants"), Key: aws.String("g")})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range out.Grants {
		found = found || g.Grantee != nil && aws.ToString(g.Grantee.ID) == e.b.project && g.Permission == "READ"
	}
	if !found {
		t.Errorf("GetObjectAcl lacks READ for %s: %+v", e.b.project, out.Grants)
	}
}

// TestObjectOwnership: a project that writes into another's bucket owns
// what it writes unless the bucket's ownership controls say otherwise, as
// in S3: without controls or with ObjectWriter the writer owns the object
// (GetObjectAcl, ListParts and ListMultipartUploads show it; the bucket
// owner reads it only as bucket-owner-read or -full-control grant it);
// BucketOwnerPreferred gives objects written with bucket-owner-full-control
// to the bucket owner; BucketOwnerEnforced gives it every object and
// refuses any other ACL. Every object used to belong to the bucket owner.
// An AccessControlPolicy without grants shows none (the owner's FULL_CONTROL
// was always listed). Also the owner's repeated CreateBucket: 200 with the same ACL,
// BucketAlreadyExists with another (as RGW and us-east-1).
func TestObjectOwnership(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	script := `
A, B = "PROJECT_A", "PROJECT_B"
def owner(client, key, bucket="own"):
    return client.get_object_acl(Bucket=bucket, Key=key)["Owner"]["ID"]
s3.create_bucket(Bucket="own")
s3.create_bucket(Bucket="own")
expect("BucketAlreadyExists", lambda: s3.create_bucket(Bucket="own", ACL="public-read"), 409)
expect("BucketAlreadyExists", lambda: other.create_bucket(Bucket="own"), 409)
s3.put_bucket_acl(Bucket="own", GrantWrite='id="%s"' % B)

other.put_object(Bucket="own", Key="b", Body=b"b")
assert owner(other, "b") == B
expect("AccessDenied", lambda: s3.get_object(Bucket="own", Key="b"), 403)
expect("AccessDenied", lambda: s3.get_object_acl(Bucket="own", Key="b"), 403)
other.put_object(Bucket="own", Key="br", Body=b"br", ACL="bucket-owner-read")
assert s3.get_object(Bucket="own", Key="br")["Body"].read() == b"br"
acl = other.get_object_acl(Bucket="own", Key="br")
assert sorted((g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]) == sorted([(B, "FULL_CONTROL"), (A, "READ")]), acl
other.put_object_acl(Bucket="own", Key="br", ACL="private")
assert owner(other, "br") == B
expect("AccessDenied", lambda: s3.get_object(Bucket="own", Key="br"), 403)
s3.delete_object(Bucket="own", Key="br")
s3.put_object(Bucket="own", Key="a", Body=b"a")
assert owner(s3, "a") == A
u = other.create_multipart_upload(Bucket="own", Key="mp")["UploadId"]
assert s3.list_multipart_uploads(Bucket="own")["Uploads"][0]["Owner"]["ID"] == B
assert other.list_parts(Bucket="own", Key="mp", UploadId=u)["Initiator"]["ID"] == B

s3.put_bucket_ownership_controls(Bucket="own", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
other.put_object(Bucket="own", Key="pref", Body=b"p", ACL="bucket-owner-full-control")
assert owner(s3, "pref") == A
other.put_object(Bucket="own", Key="mine", Body=b"m")
assert owner(other, "mine") == B

s3.put_bucket_acl(Bucket="own", ACL="private")
s3.put_bucket_ownership_controls(Bucket="own", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
assert owner(s3, "b") == A and s3.get_object(Bucket="own", Key="b")["Body"].read() == b"b"
expect("AccessControlListNotSupported", lambda: s3.put_object(Bucket="own", Key="x", Body=b"x", ACL="private"), 400)
s3.put_object(Bucket="own", Key="x", Body=b"x", ACL="bucket-owner-full-control")

# An AccessControlPolicy with no grants lists none, not even the owner's,
# whose rights stay.
s3.create_bucket(Bucket="bare")
s3.put_bucket_acl(Bucket="bare", AccessControlPolicy={"Owner": {"ID": A}, "Grants": []})
assert s3.get_bucket_acl(Bucket="bare")["Grants"] == []
s3.put_object(Bucket="bare", Key="k", Body=b"k")
assert [o["Key"] for o in s3.list_objects(Bucket="bare")["Contents"]] == ["k"]
expect("AccessDenied", lambda: other.list_objects(Bucket="bare"), 403)
`
	runBoto3(t, e, strings.NewReplacer("PROJECT_A", e.a.project, "PROJECT_B", e.b.project).Replace(script))
}
