package s3_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests drive the command-line clients users run (Debian's aws-cli,
// boto3 under /usr/bin/python3, s3cmd, rclone) through the same scenario
// as the Go SDKs, against the handler on 127.0.0.1. `make test` installs
// the tools (scripts/install-test-deps.sh); a missing tool skips its test.
// Each runs on its own server, in parallel with the others: most of their
// time is the clients' start-up (seconds per aws call on a busy machine).

type cli struct {
	t   *testing.T
	env []string
	dir string
}

func newCLI(t *testing.T, tool string) *cli {
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed: run scripts/install-test-deps.sh", tool)
	}
	// The caller's AWS_* settings (a CA bundle, a profile, keys) must not
	// leak into the clients: rclone refuses AWS_CA_BUNDLE over plain HTTP.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return &cli{t: t, dir: t.TempDir(), env: append(env, "HOME="+t.TempDir(), "PYTHONWARNINGS=ignore")}
}

func (c *cli) run(name string, args ...string) (string, error) {
	c.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = c.env
	cmd.Dir = c.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (c *cli) must(name string, args ...string) string {
	c.t.Helper()
	out, err := c.run(name, args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (c *cli) file(name string, data []byte) string {
	c.t.Helper()
	p := filepath.Join(c.dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		c.t.Fatal(err)
	}
	return p
}

func (c *cli) read(name string) []byte {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

func wantContains(t *testing.T, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

func awsCLI(t *testing.T, e *env, k key) *cli {
	c := newCLI(t, "/usr/bin/aws")
	cfg := c.file("aws-config", []byte("[default]\nregion = "+region+"\ns3 =\n    addressing_style = path\n    multipart_threshold = 8MB\n    multipart_chunksize = 5MB\n"))
	c.env = append(c.env, "AWS_CONFIG_FILE="+cfg, "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_ACCESS_KEY_ID="+k.access, "AWS_SECRET_ACCESS_KEY="+k.secret, "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=")
	return c
}

func TestAWSCLI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := awsCLI(t, e, e.a)
	other := awsCLI(t, e, e.b)
	ep := []string{"--endpoint-url", e.srv.URL}
	aws := func(c *cli, args ...string) string { return c.must("/usr/bin/aws", append(ep, args...)...) }
	large := randomBytes(t, 20<<20)
	c.file("small.txt", []byte("hello, stowage"))
	c.file("large.bin", large)
	c.file("tree/one.txt", []byte("1"))
	c.file("tree/sub/two.txt", []byte("22"))

	aws(c, "s3", "mb", "s3://cli-aws")
	aws(c, "s3", "cp", "small.txt", "s3://cli-aws/docs/small.txt")
	aws(c, "s3", "cp", "large.bin", "s3://cli-aws/large.bin") // multipart above 8 MB
	aws(c, "s3", "sync", "tree", "s3://cli-aws/tree")
	wantContains(t, aws(c, "s3", "ls", "s3://cli-aws/"), "PRE docs/", "PRE tree/", "large.bin")
	wantContains(t, aws(c, "s3", "ls", "s3://cli-aws/tree/"), "PRE sub/", "one.txt")
	wantContains(t, aws(c, "s3", "ls", "--recursive", "s3://cli-aws/"), "tree/sub/two.txt", "docs/small.txt")
	aws(c, "s3api", "get-object", "--bucket", "cli-aws", "--key", "large.bin", "--range", "bytes=100-199", "range.out")
	if !bytes.Equal(c.read("range.out"), large[100:200]) {
		t.Error("ranged get differs")
	}
	aws(c, "s3", "cp", "s3://cli-aws/large.bin", "s3://cli-aws/copy.bin")
	aws(c, "s3", "cp", "s3://cli-aws/copy.bin", "copy.out")
	if !bytes.Equal(c.read("copy.out"), large) {
		t.Error("copied object differs")
	}
	url := strings.TrimSpace(aws(c, "s3", "presign", "s3://cli-aws/docs/small.txt", "--expires-in", "300"))
	if code, _, body := rawGet(t, url); code != 200 || body != "hello, stowage" {
		t.Errorf("presigned: %d %s", code, body)
	}
	if out, err := other.run("/usr/bin/aws", append(ep, "s3", "ls", "s3://cli-aws/")...); err == nil || !strings.Contains(out, "AccessDenied") {
		t.Errorf("other project listed: %v %s", err, out)
	}
	if out, err := other.run("/usr/bin/aws", append(ep, "s3", "mb", "s3://cli-aws")...); err == nil || !strings.Contains(out, "BucketAlreadyExists") {
		t.Errorf("other project created: %v %s", err, out)
	}
	aws(c, "s3", "rm", "--recursive", "s3://cli-aws/")
	aws(c, "s3", "rb", "s3://cli-aws")
}

func TestBoto3(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newCLI(t, "/usr/bin/python3")
	if out, err := c.run("/usr/bin/python3", "-c", "import boto3"); err != nil {
		t.Skipf("boto3 not installed: %s", out)
	}
	script := c.file("scenario.py", []byte(`
import sys, os, boto3, botocore
from botocore.config import Config
from boto3.s3.transfer import TransferConfig
ep, ak, sk, bk, bs = sys.argv[1:6]
def client(a, s):
    return boto3.client("s3", endpoint_url=ep, aws_access_key_id=a, aws_secret_access_key=s, region_name="`+region+`",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
s3 = client(ak, sk)
s3.create_bucket(Bucket="cli-boto", CreateBucketConfiguration={"LocationConstraint": "`+region+`"})
s3.put_object(Bucket="cli-boto", Key="docs/a.txt", Body=b"hello", Metadata={"k": "v"})
s3.put_object(Bucket="cli-boto", Key="docs/sub/b.txt", Body=b"world")
large = os.urandom(20 << 20)
open("large.bin", "wb").write(large)
s3.upload_file("large.bin", "cli-boto", "large.bin", Config=TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=5 << 20))
assert s3.get_object(Bucket="cli-boto", Key="large.bin")["Body"].read() == large
r = s3.list_objects_v2(Bucket="cli-boto", Prefix="docs/", Delimiter="/")
assert [o["Key"] for o in r["Contents"]] == ["docs/a.txt"], r
assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["docs/sub/"], r
assert s3.get_object(Bucket="cli-boto", Key="large.bin", Range="bytes=10-19")["Body"].read() == large[10:20]
s3.copy_object(Bucket="cli-boto", Key="copy.txt", CopySource={"Bucket": "cli-boto", "Key": "docs/a.txt"})
h = s3.head_object(Bucket="cli-boto", Key="copy.txt")
assert h["Metadata"] == {"k": "v"}, h
up = s3.create_multipart_upload(Bucket="cli-boto", Key="mp")
parts = []
for i, chunk in enumerate([large[:5 << 20], large[5 << 20:6 << 20]]):
    p = s3.upload_part(Bucket="cli-boto", Key="mp", UploadId=up["UploadId"], PartNumber=i + 1, Body=chunk)
    parts.append({"PartNumber": i + 1, "ETag": p["ETag"]})
s3.complete_multipart_upload(Bucket="cli-boto", Key="mp", UploadId=up["UploadId"], MultipartUpload={"Parts": parts})
assert s3.get_object(Bucket="cli-boto", Key="mp")["Body"].read() == large[:6 << 20]
other = client(bk, bs)
for call in (lambda: other.get_object(Bucket="cli-boto", Key="docs/a.txt"), lambda: other.list_objects_v2(Bucket="cli-boto")):
    try:
        call()
        raise SystemExit("other project was allowed")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied", e.response
try:
    other.create_bucket(Bucket="cli-boto", CreateBucketConfiguration={"LocationConstraint": "`+region+`"})
    raise SystemExit("other project created the bucket")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "BucketAlreadyExists", e.response
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="cli-boto")["Contents"]]
r = s3.delete_objects(Bucket="cli-boto", Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
assert not r.get("Errors"), r
s3.delete_bucket(Bucket="cli-boto")
print("OK")
`))
	out := c.must("/usr/bin/python3", script, e.srv.URL, e.a.access, e.a.secret, e.b.access, e.b.secret)
	wantContains(t, out, "OK")
}

func s3cmdConfig(c *cli, e *env, k key) string {
	host := strings.TrimPrefix(e.srv.URL, "http://")
	return c.file(fmt.Sprintf("s3cfg-%s", k.access), []byte(fmt.Sprintf(`[default]
access_key = %s
secret_key = %s
host_base = %s
host_bucket = %s
bucket_location = %s
use_https = False
signature_v2 = False
multipart_chunk_size_mb = 5
`, k.access, k.secret, host, host, region)))
}

func TestS3cmd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newCLI(t, "s3cmd")
	cfgA, cfgB := s3cmdConfig(c, e, e.a), s3cmdConfig(c, e, e.b)
	s3cmd := func(args ...string) string { return c.must("s3cmd", append([]string{"-c", cfgA}, args...)...) }
	large := randomBytes(t, 20<<20)
	c.file("small.txt", []byte("hello"))
	c.file("large.bin", large)
	s3cmd("mb", "s3://cli-s3cmd")
	s3cmd("put", "small.txt", "s3://cli-s3cmd/docs/small.txt")
	s3cmd("put", "small.txt", "s3://cli-s3cmd/docs/sub/deeper.txt")
	s3cmd("put", "large.bin", "s3://cli-s3cmd/large.bin") // multipart, 5 MB chunks
	wantContains(t, s3cmd("ls", "s3://cli-s3cmd/docs/"), "DIR", "s3://cli-s3cmd/docs/sub/", "s3://cli-s3cmd/docs/small.txt")
	s3cmd("get", "s3://cli-s3cmd/large.bin", "large.out")
	if !bytes.Equal(c.read("large.out"), large) {
		t.Error("large object differs")
	}
	s3cmd("cp", "s3://cli-s3cmd/docs/small.txt", "s3://cli-s3cmd/copy.txt")
	s3cmd("get", "s3://cli-s3cmd/copy.txt", "copy.out")
	if string(c.read("copy.out")) != "hello" {
		t.Error("copy differs")
	}
	if out, err := c.run("s3cmd", "-c", cfgB, "ls", "s3://cli-s3cmd/"); err == nil || !strings.Contains(out, "AccessDenied") {
		t.Errorf("other project listed: %v %s", err, out)
	}
	s3cmd("del", "--recursive", "--force", "s3://cli-s3cmd/")
	s3cmd("rb", "s3://cli-s3cmd")
}

func rcloneEnv(e *env, k key, remote string) []string {
	p := "RCLONE_CONFIG_" + strings.ToUpper(remote) + "_"
	return []string{p + "TYPE=s3", p + "PROVIDER=Other", p + "ENDPOINT=" + e.srv.URL, p + "ACCESS_KEY_ID=" + k.access,
		p + "SECRET_ACCESS_KEY=" + k.secret, p + "REGION=" + region, p + "FORCE_PATH_STYLE=true",
		p + "UPLOAD_CUTOFF=8M", p + "CHUNK_SIZE=5M", p + "LOCATION_CONSTRAINT=" + region}
}

func TestRclone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newCLI(t, "rclone")
	c.env = append(c.env, rcloneEnv(e, e.a, "mine")...)
	c.env = append(c.env, rcloneEnv(e, e.b, "theirs")...)
	rc := func(args ...string) string {
		return c.must("rclone", append([]string{"-q", "--retries", "1", "--low-level-retries", "1"}, args...)...)
	}
	large := randomBytes(t, 20<<20)
	c.file("small.txt", []byte("hello"))
	c.file("large.bin", large)
	rc("mkdir", "mine:cli-rclone")
	rc("copyto", "small.txt", "mine:cli-rclone/docs/small.txt")
	rc("copyto", "small.txt", "mine:cli-rclone/docs/sub/deeper.txt")
	rc("copyto", "large.bin", "mine:cli-rclone/large.bin") // multipart above 8M
	wantContains(t, rc("lsf", "mine:cli-rclone/docs/"), "small.txt", "sub/")
	if got := rc("cat", "--offset", "1000", "--count", "10", "mine:cli-rclone/large.bin"); got != string(large[1000:1010]) {
		t.Error("ranged cat differs")
	}
	rc("copyto", "mine:cli-rclone/large.bin", "mine:cli-rclone/copy.bin") // server-side copy
	rc("copyto", "mine:cli-rclone/copy.bin", "copy.out")
	if !bytes.Equal(c.read("copy.out"), large) {
		t.Error("copy differs")
	}
	if out, err := c.run("rclone", "--retries", "1", "--low-level-retries", "1", "lsf", "theirs:cli-rclone"); err == nil || !strings.Contains(out, "AccessDenied") {
		t.Errorf("other project listed: %v %s", err, out)
	}
	rc("purge", "mine:cli-rclone")
}
