package s3_test

import (
	"context"
	"mime"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// boto3Prelude gives a script three clients, s3 (project a), other
// (project b) and anon (unsigned), and expect(code, fn) which asserts that fn fails with that
// S3 error code (and, when given, HTTP status).
const boto3Prelude = `
import sys, os, io, hashlib, base64, botocore, boto3
from botocore.config import Config
ep, ak, sk, bk, bs = sys.argv[1:6]
def client(a, s):
    return boto3.client("s3", endpoint_url=ep, aws_access_key_id=a, aws_secret_access_key=s, region_name="` + region + `",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
s3 = client(ak, sk)
other = client(bk, bs)
anon = boto3.client("s3", endpoint_url=ep, region_name="` + region + `",
                    config=Config(signature_version=botocore.UNSIGNED, s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
def expect(code, fn, status=None):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        st = e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert got == code, "want %s, got %s (%d): %s" % (code, got, st, e.response)
        assert status is None or st == status, "want status %d, got %d" % (status, st)
        return
    raise AssertionError("want %s, the call succeeded" % code)
`

// runBoto3 runs script (after boto3Prelude) with Debian's boto3 against e
// and fails the test unless it prints OK.
func runBoto3(t *testing.T, e *env, script string) {
	t.Helper()
	c := newCLI(t, "/usr/bin/python3")
	p := c.file("script.py", []byte(boto3Prelude+script+"\nprint(\"OK\")\n"))
	out, err := c.run("/usr/bin/python3", p, e.srv.URL, e.a.access, e.a.secret, e.b.access, e.b.secret)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantContains(t, out, "OK")
}

// TestUserMetadataNonASCII: a metadata value with non-ASCII characters is
// stored as UTF-8 and returned RFC 2047-encoded, as S3 does, so that
// botocore (which sends UTF-8 and reads ISO-8859-1) and Go (raw octets)
// both decode what was sent; it came back as "Hello WorldÃ©".
func TestUserMetadataNonASCII(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runBoto3(t, e, `
from email.header import decode_header, make_header
s3.create_bucket(Bucket="meta")
def unicode_meta(**kw):
    kw["params"]["headers"]["x-amz-meta-meta1"] = u"Hello World\xe9"
s3.meta.events.register("before-call.s3.PutObject", unicode_meta)
s3.put_object(Bucket="meta", Key="k", Body=b"x")
s3.meta.events.unregister("before-call.s3.PutObject", unicode_meta)
got = s3.get_object(Bucket="meta", Key="k")["Metadata"]["meta1"]
assert got.startswith("=?UTF-8?b?") or got.startswith("=?UTF-8?B?"), repr(got)
assert str(make_header(decode_header(got))) == u"Hello World\xe9", repr(got)
# An encoded value sent by a client that follows RFC 2047 comes back alike.
s3.put_object(Bucket="meta", Key="enc", Body=b"x", Metadata={"m": got, "plain": "ascii stays"})
h = s3.head_object(Bucket="meta", Key="enc")["Metadata"]
assert str(make_header(decode_header(h["m"]))) == u"Hello World\xe9", h
assert h["plain"] == "ascii stays", h
`)
	ctx := context.Background()
	c := awsFor(e, e.a)
	mustCreate(t, c, "meta-go")
	want := "grüße, 東京"
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("meta-go"), Key: aws.String("k"),
		Metadata: map[string]string{"city": want}}); err != nil {
		t.Fatal(err)
	}
	h, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("meta-go"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	var d mime.WordDecoder
	if got, err := d.DecodeHeader(h.Metadata["city"]); err != nil || got != want || h.Metadata["city"] == want {
		t.Errorf("metadata %q decodes to %q (%v), want it RFC 2047-encoded from %q", h.Metadata["city"], got, err, want)
	}
}

// TestCopySourceRangeChecked: UploadPartCopy refuses a range past the end
// of its source with InvalidRange (it copied the bytes there were) and a
// malformed one with InvalidArgument, as s3-tests expects.
func TestCopySourceRangeChecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runBoto3(t, e, `
s3.create_bucket(Bucket="rng")
s3.put_object(Bucket="rng", Key="src", Body=b"12345")
u = s3.create_multipart_upload(Bucket="rng", Key="dst")["UploadId"]
def copy(r):
    return lambda: s3.upload_part_copy(Bucket="rng", Key="dst", UploadId=u, CopySource={"Bucket": "rng", "Key": "src"}, CopySourceRange=r, PartNumber=1)
expect("InvalidRange", copy("bytes=0-21"), 416)
expect("InvalidRange", copy("bytes=5-5"), 416)
for r in ["0-2", "bytes=0", "bytes=hello-world", "bytes=0-bar", "bytes=hello-", "bytes=0-2,3-5", "bytes=-2", "bytes=3-1"]:
    expect("InvalidArgument", copy(r), 400)
p = copy("bytes=1-3")()
s3.complete_multipart_upload(Bucket="rng", Key="dst", UploadId=u, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["CopyPartResult"]["ETag"]}]})
assert s3.get_object(Bucket="rng", Key="dst")["Body"].read() == b"234"
`)
}

// TestChecksumMalformedIsBadDigest: a malformed x-amz-checksum-* value is
// BadDigest (400), as S3 answers, not InvalidRequest.
func TestChecksumMalformedIsBadDigest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runBoto3(t, e, `
s3.create_bucket(Bucket="sum")
body = b"A" * 1024
good = "arcu6553sHVAiX4MjW0j7I7vD4w6R+Gz9Ok0Q9lTa+0="
assert s3.put_object(Bucket="sum", Key="k", Body=body, ChecksumAlgorithm="SHA256", ChecksumSHA256=good)["ChecksumSHA256"] == good
expect("BadDigest", lambda: s3.put_object(Bucket="sum", Key="k", Body=body, ChecksumAlgorithm="SHA256", ChecksumSHA256="bad"), 400)
expect("BadDigest", lambda: s3.put_object(Bucket="sum", Key="k", Body=body, ChecksumAlgorithm="CRC32", ChecksumCRC32="bad"), 400)
`)
}

// TestMultipartResentPartFinishesLast: a part sent twice whose first send
// finishes last is listed twice by the client (s3-tests'
// test_multipart_resend_first_finishes_last); Complete uses the stored
// part, the last entry, where it answered InvalidPart.
func TestMultipartResentPartFinishesLast(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runBoto3(t, e, `
s3.create_bucket(Bucket="resend")
u = s3.create_multipart_upload(Bucket="resend", Key="k")["UploadId"]
b = s3.upload_part(Bucket="resend", Key="k", UploadId=u, PartNumber=1, Body=b"B" * 8)
a = s3.upload_part(Bucket="resend", Key="k", UploadId=u, PartNumber=1, Body=b"A" * 8)
parts = [{"PartNumber": 1, "ETag": b["ETag"]}, {"PartNumber": 1, "ETag": a["ETag"]}]
s3.complete_multipart_upload(Bucket="resend", Key="k", UploadId=u, MultipartUpload={"Parts": parts})
assert s3.get_object(Bucket="resend", Key="k")["Body"].read() == b"A" * 8
# The stale entry alone is still refused, and so is a descending list.
u = s3.create_multipart_upload(Bucket="resend", Key="k2")["UploadId"]
b = s3.upload_part(Bucket="resend", Key="k2", UploadId=u, PartNumber=1, Body=b"B" * 8)
a = s3.upload_part(Bucket="resend", Key="k2", UploadId=u, PartNumber=1, Body=b"A" * 8)
expect("InvalidPart", lambda: s3.complete_multipart_upload(Bucket="resend", Key="k2", UploadId=u, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": b["ETag"]}]}))
`)
}

// TestObjectAttributesPartsAndChecksum: GetObjectAttributes names the
// part count PartsCount (the element botocore and the Go SDK read into
// TotalPartsCount), and a multipart upload that declared a checksum
// algorithm gets S3's composite checksum, returned by Complete, HEAD and
// GetObjectAttributes; a wrong one given to Complete is BadDigest.
// GetObjectAttributes lists each part's own checksum (they were not kept),
// and completing again answers with the checksum too (it had none). An
// upload of x-amz-checksum-type FULL_OBJECT gets the whole object's CRC,
// combined from the parts' (it was BadDigest), with its type on every
// answer, and GET ?partNumber shows the part's.
func TestObjectAttributesPartsAndChecksum(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runBoto3(t, e, `
s3.create_bucket(Bucket="attrs")
r = s3.create_multipart_upload(Bucket="attrs", Key="mp", ChecksumAlgorithm="SHA256")
assert r["ChecksumAlgorithm"] == "SHA256", r
u = r["UploadId"]
data = [os.urandom(5 << 20), os.urandom(1000)]
parts = []
for i, d in enumerate(data):
    p = s3.upload_part(Bucket="attrs", Key="mp", UploadId=u, PartNumber=i + 1, Body=d, ChecksumAlgorithm="SHA256")
    assert p["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(d).digest()).decode(), p
    parts.append({"PartNumber": i + 1, "ETag": p["ETag"], "ChecksumSHA256": p["ChecksumSHA256"]})
want = base64.b64encode(hashlib.sha256(b"".join(hashlib.sha256(d).digest() for d in data)).digest()).decode() + "-2"
expect("BadDigest", lambda: s3.complete_multipart_upload(Bucket="attrs", Key="mp", UploadId=u, ChecksumSHA256="bad", MultipartUpload={"Parts": parts}), 400)
wrong = [dict(parts[0], ChecksumSHA256=parts[1]["ChecksumSHA256"]), parts[1]]
expect("InvalidPart", lambda: s3.complete_multipart_upload(Bucket="attrs", Key="mp", UploadId=u, MultipartUpload={"Parts": wrong}))
r = s3.complete_multipart_upload(Bucket="attrs", Key="mp", UploadId=u, MultipartUpload={"Parts": parts})
assert r["ChecksumSHA256"] == want, (r, want)
assert s3.head_object(Bucket="attrs", Key="mp", ChecksumMode="ENABLED")["ChecksumSHA256"] == want
a = s3.get_object_attributes(Bucket="attrs", Key="mp", ObjectAttributes=["ETag", "Checksum", "ObjectParts", "ObjectSize"])
assert a["ObjectParts"]["TotalPartsCount"] == 2, a
assert [p["Size"] for p in a["ObjectParts"]["Parts"]] == [5 << 20, 1000], a
assert a["Checksum"]["ChecksumSHA256"] == want, a
assert a["ObjectSize"] == (5 << 20) + 1000, a
# Each part's own checksum, paged by MaxParts and PartNumberMarker.
assert [p["ChecksumSHA256"] for p in a["ObjectParts"]["Parts"]] == [p["ChecksumSHA256"] for p in parts], a
a = s3.get_object_attributes(Bucket="attrs", Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=1, PartNumberMarker=1)
assert [(p["PartNumber"], p["ChecksumSHA256"]) for p in a["ObjectParts"]["Parts"]] == [(2, parts[1]["ChecksumSHA256"])], a
# Completing again answers as the first time, checksum included.
r2 = s3.complete_multipart_upload(Bucket="attrs", Key="mp", UploadId=u, MultipartUpload={"Parts": parts})
assert (r2["ETag"], r2["ChecksumSHA256"]) == (r["ETag"], want), r2
h = s3.head_object(Bucket="attrs", Key="mp", ChecksumMode="ENABLED")["ResponseMetadata"]["HTTPHeaders"]
assert sorted(k for k in h if k.startswith("x-amz-checksum-")) == ["x-amz-checksum-sha256", "x-amz-checksum-type"], h
assert h["x-amz-checksum-type"] == "COMPOSITE", h

# FULL_OBJECT: the whole object's CRC, combined from the parts' (it was
# BadDigest), shown whole by Complete, HEAD and GetObjectAttributes, and
# each part's by GET ?partNumber.
import zlib
def crc32(b):
    return base64.b64encode(zlib.crc32(b).to_bytes(4, "big")).decode()
# Debian's botocore has no ChecksumType parameter: the header is added.
def add_type(**kw):
    kw["params"]["headers"]["x-amz-checksum-type"] = "FULL_OBJECT"
s3.meta.events.register("before-call.s3.CreateMultipartUpload", add_type)
r = s3.create_multipart_upload(Bucket="attrs", Key="full", ChecksumAlgorithm="CRC32")
s3.meta.events.unregister("before-call.s3.CreateMultipartUpload", add_type)
assert r["ResponseMetadata"]["HTTPHeaders"]["x-amz-checksum-type"] == "FULL_OBJECT", r
u = r["UploadId"]
parts = []
for i, d in enumerate(data):
    p = s3.upload_part(Bucket="attrs", Key="full", UploadId=u, PartNumber=i + 1, Body=d, ChecksumAlgorithm="CRC32")
    parts.append({"PartNumber": i + 1, "ETag": p["ETag"], "ChecksumCRC32": p["ChecksumCRC32"]})
whole = crc32(b"".join(data))
expect("BadDigest", lambda: s3.complete_multipart_upload(Bucket="attrs", Key="full", UploadId=u, ChecksumCRC32=crc32(b"other"), MultipartUpload={"Parts": parts}), 400)
r = s3.complete_multipart_upload(Bucket="attrs", Key="full", UploadId=u, ChecksumCRC32=whole, MultipartUpload={"Parts": parts})
assert r["ChecksumCRC32"] == whole, (r, whole)
h = s3.head_object(Bucket="attrs", Key="full", ChecksumMode="ENABLED")["ResponseMetadata"]["HTTPHeaders"]
assert (h["x-amz-checksum-crc32"], h["x-amz-checksum-type"]) == (whole, "FULL_OBJECT"), h
a = s3.get_object_attributes(Bucket="attrs", Key="full", ObjectAttributes=["Checksum"])
assert a["Checksum"]["ChecksumCRC32"] == whole, a
h = s3.get_object(Bucket="attrs", Key="full", PartNumber=2, ChecksumMode="ENABLED")["ResponseMetadata"]["HTTPHeaders"]
assert h["x-amz-checksum-crc32"] == crc32(data[1]), h
s3.meta.events.register("before-call.s3.CreateMultipartUpload", add_type)
expect("InvalidRequest", lambda: s3.create_multipart_upload(Bucket="attrs", Key="x", ChecksumAlgorithm="SHA256"), 400)
`)
	ctx := context.Background()
	a, err := awsFor(e, e.a).GetObjectAttributes(ctx, &awss3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("mp"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts}})
	if err != nil {
		t.Fatal(err)
	}
	if a.ObjectParts == nil || aws.ToInt32(a.ObjectParts.TotalPartsCount) != 2 {
		t.Errorf("aws-sdk-go-v2 reads ObjectParts %+v, want TotalPartsCount 2", a.ObjectParts)
	}
}

// TestBucketTagging: Put/Get/DeleteBucketTagging through boto3 and the Go
// SDK; a bucket without tags answers NoSuchTagSet (404) where GET ?tagging
// was NotImplemented; another project reaches none of it.
func TestBucketTagging(t *testing.T) {
	t.Parallel()
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := newEnvOn(t, backend)
			runBoto3(t, e, `
s3.create_bucket(Bucket="tagged")
expect("NoSuchTagSet", lambda: s3.get_bucket_tagging(Bucket="tagged"), 404)
s3.put_bucket_tagging(Bucket="tagged", Tagging={"TagSet": [{"Key": "Hello", "Value": "World"}, {"Key": "cost", "Value": "ünïcode"}]})
r = s3.get_bucket_tagging(Bucket="tagged")
assert r["TagSet"] == [{"Key": "Hello", "Value": "World"}, {"Key": "cost", "Value": "ünïcode"}], r
expect("AccessDenied", lambda: other.get_bucket_tagging(Bucket="tagged"), 403)
expect("AccessDenied", lambda: other.put_bucket_tagging(Bucket="tagged", Tagging={"TagSet": []}), 403)
expect("AccessDenied", lambda: other.delete_bucket_tagging(Bucket="tagged"), 403)
expect("InvalidTag", lambda: s3.put_bucket_tagging(Bucket="tagged", Tagging={"TagSet": [{"Key": "k%d" % i, "Value": "v"} for i in range(51)]}), 400)
expect("InvalidTag", lambda: s3.put_bucket_tagging(Bucket="tagged", Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}), 400)
s3.put_bucket_tagging(Bucket="tagged", Tagging={"TagSet": [{"Key": "k%d" % i, "Value": "v"} for i in range(50)]})
assert len(s3.get_bucket_tagging(Bucket="tagged")["TagSet"]) == 50
r = s3.delete_bucket_tagging(Bucket="tagged")
assert r["ResponseMetadata"]["HTTPStatusCode"] == 204, r
expect("NoSuchTagSet", lambda: s3.get_bucket_tagging(Bucket="tagged"), 404)
`)
			ctx := context.Background()
			c := awsFor(e, e.a)
			if _, err := c.PutBucketTagging(ctx, &awss3.PutBucketTaggingInput{Bucket: aws.String("tagged"),
				Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("team"), Value: aws.String("storage")}}}}); err != nil {
				t.Fatal(err)
			}
			out, err := c.GetBucketTagging(ctx, &awss3.GetBucketTaggingInput{Bucket: aws.String("tagged")})
			if err != nil || len(out.TagSet) != 1 || aws.ToString(out.TagSet[0].Key) != "team" || aws.ToString(out.TagSet[0].Value) != "storage" {
				t.Errorf("GetBucketTagging: %+v %v", out, err)
			}
		})
	}
}

// TestCompleteSSECKeyChecked: a customer key given to Complete must be
// the upload's (another one is 400; it was ignored); none is accepted, as
// S3's reference has it optional.
func TestCompleteSSECKeyChecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runBoto3(t, e, `
# Encoded here, with their MD5, as s3-tests does: Debian's botocore does
# not encode the key it is given for CompleteMultipartUpload.
def sse_c(raw):
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": base64.b64encode(raw).decode(),
            "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(raw).digest()).decode()}
key, other_key = sse_c(b"k" * 32), sse_c(b"o" * 32)
s3.create_bucket(Bucket="ssec")
u = s3.create_multipart_upload(Bucket="ssec", Key="k", **key)["UploadId"]
p = s3.upload_part(Bucket="ssec", Key="k", UploadId=u, PartNumber=1, Body=b"x", **key)
parts = {"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]}
expect("InvalidArgument", lambda: s3.complete_multipart_upload(Bucket="ssec", Key="k", UploadId=u, MultipartUpload=parts, **other_key), 400)
s3.complete_multipart_upload(Bucket="ssec", Key="k", UploadId=u, MultipartUpload=parts, **key)
assert s3.get_object(Bucket="ssec", Key="k", **key)["Body"].read() == b"x"
u = s3.create_multipart_upload(Bucket="ssec", Key="plain")["UploadId"]
p = s3.upload_part(Bucket="ssec", Key="plain", UploadId=u, PartNumber=1, Body=b"y")
expect("InvalidArgument", lambda: s3.complete_multipart_upload(Bucket="ssec", Key="plain", UploadId=u, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]}, **key), 400)
`)
}

// TestReadRefusesSSEHeader: GET and HEAD with x-amz-server-side-encryption
// are InvalidArgument (400), as S3 answers (s3-tests'
// test_sse_s3_default_method_head); the header was ignored.
func TestReadRefusesSSEHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runBoto3(t, e, `
s3.create_bucket(Bucket="ssehead")
s3.put_object(Bucket="ssehead", Key="k", Body=b"x", ServerSideEncryption="AES256")
assert s3.head_object(Bucket="ssehead", Key="k")["ServerSideEncryption"] == "AES256"
def sse_header(**kw):
    kw["params"]["headers"]["x-amz-server-side-encryption"] = "AES256"
s3.meta.events.register("before-call.s3.HeadObject", sse_header)
s3.meta.events.register("before-call.s3.GetObject", sse_header)
for call in (s3.head_object, s3.get_object):
    try:
        call(Bucket="ssehead", Key="k")
        raise SystemExit("%s with x-amz-server-side-encryption was accepted" % call.__name__)
    except botocore.exceptions.ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
`)
}
