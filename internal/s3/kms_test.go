package s3_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/internal/testenv"
)

// kmsEnv is a real server with a project key, an S3 key of the same
// project, and another project with an S3 key of its own.
type kmsEnv struct {
	e              *testenv.Env
	project, other string
	c, oc          *awss3.Client
	key            key // the S3 key of c
}

func newKMSEnv(t *testing.T, backend string) *kmsEnv {
	var opts []testenv.Option
	if backend == "postgres" {
		opts = append(opts, testenv.Postgres(t))
	}
	e := testenv.Start(t, opts...)
	k := &kmsEnv{e: e, project: e.DefaultProject()}
	var proj map[string]any
	e.Do("GET", "/api/v1/projects/"+k.project, testenv.Bearer(e.AdminToken), nil).JSON(t, &proj)
	r := e.Do("POST", "/api/v1/projects", testenv.Bearer(e.AdminToken), map[string]any{"name": "other", "organisation_id": proj["organisation_id"]})
	if r.Status != 201 {
		t.Fatalf("project: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &proj)
	k.other = proj["id"].(string)
	k.key = k.s3Key(t, k.project)
	k.c = newAWS("http://"+e.Addrs.S3, k.key, http.DefaultClient, aws.RequestChecksumCalculationWhenRequired).c
	k.oc = newAWS("http://"+e.Addrs.S3, k.s3Key(t, k.other), http.DefaultClient, aws.RequestChecksumCalculationWhenRequired).c
	return k
}

func (k *kmsEnv) s3Key(t *testing.T, project string) key {
	var cred map[string]any
	r := k.e.Do("POST", "/api/v1/projects/"+project+"/credentials", testenv.Bearer(k.e.AdminToken), map[string]any{"description": "kms"})
	if r.Status != 201 {
		t.Fatalf("credential: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &cred)
	return key{project, cred["access_key_id"].(string), cred["secret_access_key"].(string)}
}

// keyAPI calls the native key routes of project as the admin.
func (k *kmsEnv) keyAPI(t *testing.T, method, path string, body any, want int) map[string]any {
	t.Helper()
	r := k.e.Do(method, "/api/v1/projects/"+k.project+"/kms-keys"+path, testenv.Bearer(k.e.AdminToken), body)
	if r.Status != want {
		t.Fatalf("%s kms-keys%s: %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	out := map[string]any{}
	if len(r.Body) > 0 {
		r.JSON(t, &out)
	}
	return out
}

func TestSSEKMS(t *testing.T) {
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) { testSSEKMS(t, newKMSEnv(t, backend)) })
	}
}

func testSSEKMS(t *testing.T, k *kmsEnv) {
	ctx := context.Background()
	k1 := k.keyAPI(t, "POST", "", map[string]any{"alias": "photos", "description": "photo bucket"}, 201)
	k2 := k.keyAPI(t, "POST", "", nil, 201)
	id1, arn1, arn2 := k1["id"].(string), k1["arn"].(string), k2["arn"].(string)
	if k1["state"] != "Enabled" || k1["alias"] != "alias/photos" || arn1 != "arn:aws:kms:"+k.e.Config.Region+":"+k.project+":key/"+id1 {
		t.Fatalf("created key %v", k1)
	}
	for _, kk := range []map[string]any{k1, k2} {
		for f := range kk {
			if f != "id" && f != "arn" && f != "project_id" && f != "alias" && f != "description" && f != "state" && f != "created_at" {
				t.Errorf("the key answer has a field %q", f)
			}
		}
	}
	b := aws.String("kms")
	if _, err := k.c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	data := sseData(300<<10 + 5)
	probe := data[9000 : 9000+64]
	get := func(key string) ([]byte, *awss3.GetObjectOutput, error) {
		out, err := k.c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String(key)})
		if err != nil {
			return nil, nil, err
		}
		return getBytes(t, out, nil), out, nil
	}
	mustRead := func(key string, want []byte, arn string) {
		t.Helper()
		got, out, err := get(key)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		if !bytes.Equal(got, want) || out.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(out.SSEKMSKeyId) != arn {
			t.Fatalf("get %s: %d bytes (equal %v), sse %q key %q", key, len(got), bytes.Equal(got, want), out.ServerSideEncryption, aws.ToString(out.SSEKMSKeyId))
		}
	}

	// The key named by id, alias and ARN: S3 answers with the ARN.
	for _, ref := range []string{id1, "alias/photos", arn1} {
		put, err := k.c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("by-" + ref[:5]), Body: bytes.NewReader(data),
			ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(ref)})
		if err != nil {
			t.Fatalf("put with %s: %v", ref, err)
		}
		if put.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(put.SSEKMSKeyId) != arn1 {
			t.Fatalf("put with %s: sse %q key %q", ref, put.ServerSideEncryption, aws.ToString(put.SSEKMSKeyId))
		}
		mustRead("by-"+ref[:5], data, arn1)
	}
	head, err := k.c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: b, Key: aws.String("by-" + id1[:5])})
	if err != nil || head.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(head.SSEKMSKeyId) != arn1 {
		t.Fatalf("head: %v %+v", err, head)
	}
	if stored(t, &env{dataDir: k.e.DataDir}, probe) {
		t.Fatal("plaintext found on disk")
	}

	// The encryption context is bound and echoed.
	encCtx := base64.StdEncoding.EncodeToString([]byte(`{"department":"photos"}`))
	put, err := k.c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("ctx"), Body: bytes.NewReader(data),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(arn2), SSEKMSEncryptionContext: aws.String(encCtx)})
	if err != nil {
		t.Fatal(err)
	}
	var echoed map[string]string
	raw, _ := base64.StdEncoding.DecodeString(aws.ToString(put.SSEKMSEncryptionContext))
	if json.Unmarshal(raw, &echoed) != nil || echoed["department"] != "photos" || echoed["aws:s3:arn"] != "arn:aws:s3:::kms/ctx" {
		t.Fatalf("context echoed %q", aws.ToString(put.SSEKMSEncryptionContext))
	}
	mustRead("ctx", data, arn2)
	if _, err := k.c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("bad-ctx"), Body: bytes.NewReader(data),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(arn2), SSEKMSEncryptionContext: aws.String("not json")}); errCode(err) != "InvalidArgument" {
		t.Fatalf("bad context: %v", err)
	}

	// Copies re-encrypt under the destination's key, from and to KMS.
	cp, err := k.c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("kms/ctx"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("alias/photos")})
	if err != nil || aws.ToString(cp.SSEKMSKeyId) != arn1 {
		t.Fatalf("copy: %v %+v", err, cp)
	}
	mustRead("copy", data, arn1)
	if _, err := k.c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("plain-copy"), CopySource: aws.String("kms/copy")}); err != nil {
		t.Fatal(err)
	}
	if got, out, err := get("plain-copy"); err != nil || !bytes.Equal(got, data) || out.ServerSideEncryption != "" {
		t.Fatalf("copy to plain: %v, sse %q", err, out.ServerSideEncryption)
	}

	// Multipart: the upload's key wraps every part.
	mp, err := k.c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(id1)})
	if err != nil || aws.ToString(mp.SSEKMSKeyId) != arn1 {
		t.Fatalf("create upload: %v %+v", err, mp)
	}
	big := sseData(5<<20 + 1000)
	var parts []types.CompletedPart
	for i, p := range [][]byte{big[:5<<20], big[5<<20:]} {
		up, err := k.c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: b, Key: aws.String("mp"), UploadId: mp.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil || aws.ToString(up.SSEKMSKeyId) != arn1 {
			t.Fatalf("part %d: %v %+v", i+1, err, up)
		}
		parts = append(parts, types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	done, err := k.c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("mp"), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil || aws.ToString(done.SSEKMSKeyId) != arn1 || done.ServerSideEncryption != types.ServerSideEncryptionAwsKms {
		t.Fatalf("complete: %v %+v", err, done)
	}
	mustRead("mp", big, arn1)
	if stored(t, &env{dataDir: k.e.DataDir}, big[6<<19:6<<19+64]) {
		t.Fatal("plaintext of a part found on disk")
	}

	// Bucket default encryption with a bucket key.
	if _, err := k.c.PutBucketEncryption(ctx, &awss3.PutBucketEncryptionInput{Bucket: b, ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{
		Rules: []types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{
			SSEAlgorithm: types.ServerSideEncryptionAwsKms, KMSMasterKeyID: aws.String("alias/photos")}, BucketKeyEnabled: aws.Bool(true)}}}}); err != nil {
		t.Fatal(err)
	}
	enc, err := k.c.GetBucketEncryption(ctx, &awss3.GetBucketEncryptionInput{Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	if r := enc.ServerSideEncryptionConfiguration.Rules[0]; aws.ToString(r.ApplyServerSideEncryptionByDefault.KMSMasterKeyID) != "alias/photos" ||
		r.ApplyServerSideEncryptionByDefault.SSEAlgorithm != types.ServerSideEncryptionAwsKms || !aws.ToBool(r.BucketKeyEnabled) {
		t.Fatalf("bucket encryption %+v", r)
	}
	put, err = k.c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("default"), Body: bytes.NewReader(data)})
	if err != nil || aws.ToString(put.SSEKMSKeyId) != arn1 || !aws.ToBool(put.BucketKeyEnabled) {
		t.Fatalf("default put: %v %+v", err, put)
	}
	mustRead("default", data, arn1)

	// A disabled key makes its objects unreadable until it is enabled;
	// the other key's objects stay readable.
	k.keyAPI(t, "POST", "/"+id1+"/disable", nil, 200)
	if _, _, err := get("copy"); errCode(err) != "KMS.DisabledException" {
		t.Fatalf("get under a disabled key: %v", err)
	}
	if _, err := k.c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("x"), Body: bytes.NewReader(data),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(id1)}); errCode(err) != "KMS.DisabledException" {
		t.Fatalf("put under a disabled key: %v", err)
	}
	mustRead("ctx", data, arn2)
	k.keyAPI(t, "POST", "/alias%2Fphotos/enable", nil, 200)
	mustRead("copy", data, arn1)

	// Deletion: pending, the objects are unreadable; cancelled, the key
	// comes back disabled.
	k.keyAPI(t, "POST", "/"+id1+"/schedule-deletion", map[string]any{"pending_window_days": 6}, 400)
	pend := k.keyAPI(t, "POST", "/"+id1+"/schedule-deletion", map[string]any{"pending_window_days": 7}, 200)
	if pend["state"] != "PendingDeletion" || pend["deletion_date"] == nil {
		t.Fatalf("scheduled: %v", pend)
	}
	if _, _, err := get("mp"); errCode(err) != "KMS.KMSInvalidStateException" {
		t.Fatalf("get under a key pending deletion: %v", err)
	}
	k.keyAPI(t, "POST", "/"+id1+"/enable", nil, 409)
	if got := k.keyAPI(t, "POST", "/"+id1+"/cancel-deletion", nil, 200); got["state"] != "Disabled" || got["deletion_date"] != nil {
		t.Fatalf("cancelled: %v", got)
	}
	k.keyAPI(t, "POST", "/"+id1+"/enable", nil, 200)
	mustRead("mp", big, arn1)
	list := k.keyAPI(t, "GET", "", nil, 200)
	if items, _ := list["items"].([]any); len(items) != 2 {
		t.Fatalf("list: %v", list)
	}

	// Tenants are walls: another project can use neither the key's id
	// nor its ARN, nor read what it protects in a bucket it may read.
	ob := aws.String("kms-other")
	if _, err := k.oc.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: ob}); err != nil {
		t.Fatal(err)
	}
	for ref, code := range map[string]string{id1: "KMS.NotFoundException", arn1: "AccessDenied", "alias/photos": "KMS.NotFoundException"} {
		if _, err := k.oc.PutObject(ctx, &awss3.PutObjectInput{Bucket: ob, Key: aws.String("x"), Body: bytes.NewReader(data),
			ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(ref)}); errCode(err) != code {
			t.Errorf("other project's put with %s: %v, want %s", ref, err, code)
		}
	}
	if _, err := k.c.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: b, Key: aws.String("copy"), ACL: types.ObjectCannedACLAuthenticatedRead}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.oc.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("copy")}); errCode(err) != "AccessDenied" {
		t.Errorf("other project's read of a KMS object: %v", err)
	}
	if r := k.e.Do("GET", "/api/v1/projects/"+k.other+"/kms-keys/"+id1, testenv.Bearer(k.e.AdminToken), nil); r.Status != 404 {
		t.Errorf("key under the other project: %d %s", r.Status, r.Body)
	}
}

// TestSSEKMSBoto3 drives SSE-KMS with boto3: single and multipart uploads
// naming the key by alias, HEAD, a copy to the second key, a bucket
// default; then the key is disabled (reads fail as AWS answers) and
// enabled again (they work).
func TestSSEKMSBoto3(t *testing.T) {
	c := newCLI(t, "/usr/bin/python3")
	if out, err := c.run("/usr/bin/python3", "-c", "import boto3"); err != nil {
		t.Skipf("boto3 not installed: %s", out)
	}
	k := newKMSEnv(t, "sqlite")
	k1 := k.keyAPI(t, "POST", "", map[string]any{"alias": "boto"}, 201)
	k2 := k.keyAPI(t, "POST", "", nil, 201)
	script := c.file("kms.py", []byte(`
import sys, os, boto3, botocore
from botocore.config import Config
from boto3.s3.transfer import TransferConfig
ep, ak, sk, region, arn1, arn2, mode = sys.argv[1:8]
s3 = boto3.client("s3", endpoint_url=ep, aws_access_key_id=ak, aws_secret_access_key=sk, region_name=region,
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
def check(r, arn):
    assert r["ServerSideEncryption"] == "aws:kms" and r["SSEKMSKeyId"] == arn, r
if mode == "write":
    s3.create_bucket(Bucket="boto-kms", CreateBucketConfiguration={"LocationConstraint": region})
    check(s3.put_object(Bucket="boto-kms", Key="small", Body=b"secret words", ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/boto"), arn1)
    r = s3.get_object(Bucket="boto-kms", Key="small")
    check(r, arn1)
    assert r["Body"].read() == b"secret words"
    check(s3.head_object(Bucket="boto-kms", Key="small"), arn1)
    large = os.urandom(12 << 20)
    open("large.bin", "wb").write(large)
    s3.upload_file("large.bin", "boto-kms", "large", ExtraArgs={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": arn1},
                   Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
    r = s3.get_object(Bucket="boto-kms", Key="large")
    check(r, arn1)
    assert r["Body"].read() == large
    check(s3.copy_object(Bucket="boto-kms", Key="copy", CopySource={"Bucket": "boto-kms", "Key": "small"},
                         ServerSideEncryption="aws:kms", SSEKMSKeyId=arn2), arn2)
    check(s3.head_object(Bucket="boto-kms", Key="copy"), arn2)
    s3.put_bucket_encryption(Bucket="boto-kms", ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": arn1}, "BucketKeyEnabled": True}]})
    r = s3.put_object(Bucket="boto-kms", Key="default", Body=b"by default")
    check(r, arn1)
    assert r["BucketKeyEnabled"] is True, r
elif mode == "disabled":
    for key in ("small", "large", "default"):
        try:
            s3.get_object(Bucket="boto-kms", Key=key)
            raise SystemExit("read under a disabled key")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "KMS.DisabledException", e.response
    assert s3.get_object(Bucket="boto-kms", Key="copy")["Body"].read() == b"secret words"
else:
    assert s3.get_object(Bucket="boto-kms", Key="small")["Body"].read() == b"secret words"
    assert s3.get_object(Bucket="boto-kms", Key="default")["Body"].read() == b"by default"
print("OK")
`))
	run := func(mode string) {
		t.Helper()
		out := c.must("/usr/bin/python3", script, "http://"+k.e.Addrs.S3, k.key.access, k.key.secret, k.e.Config.Region,
			k1["arn"].(string), k2["arn"].(string), mode)
		wantContains(t, out, "OK")
	}
	run("write")
	if onDisk(t, k.e.DataDir, []byte("secret words")) {
		t.Fatal("plaintext found on disk")
	}
	k.keyAPI(t, "POST", "/"+k1["id"].(string)+"/disable", nil, 200)
	run("disabled")
	k.keyAPI(t, "POST", "/"+k1["id"].(string)+"/enable", nil, 200)
	run("enabled")
}
