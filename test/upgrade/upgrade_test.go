// Package upgrade_test builds the previous recorded release from git
// history, fills a data dir through it with every kind of resource, then
// starts the current binary on that data dir and checks that everything
// reads, lists and works, on SQLite and on PostgreSQL.
package upgrade_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/internal/store/sqlstore"
	"github.com/stowage/stowage/internal/testenv"
)

// previousRelease is the last landing before this work stopped on
// 2026-12-01 (`git log --first-parent`: the commit before the gap), at
// schema version 90, so the upgrade runs 28 migrations. Move it forward to
// the last landing that changed the schema when cutting a release.
const previousRelease = "0a8ecbb"

// oldDirKeys is how many keys the old release puts into directory a/.
const oldDirKeys = 40

// buildRelease exports commit from the repository's history (git
// archive: the repository and its worktrees stay untouched) and builds
// its binary as `make build` did then.
func buildRelease(t *testing.T, commit string) string {
	t.Helper()
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("the upgrade test needs the git history (a clone, not an export): %v", err)
	}
	src := t.TempDir()
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", strings.TrimSpace(string(top)), commit, src)
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", commit, err, out)
	}
	bin := filepath.Join(t.TempDir(), "stowage-"+commit)
	build := exec.Command("go", "build", "-ldflags", "-X github.com/stowage/stowage/internal/cli.Version="+commit, "-o", bin, "./cmd/stowage")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", commit, err, out)
	}
	return bin
}

type obj = map[string]any

func waitStatus(t *testing.T, n *testenv.Node, path, status string) obj {
	t.Helper()
	var v obj
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n.Must("GET", path, nil, &v)
		if v["status"] == status {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became %s: %v", path, status, v)
		}
	}
}

// fixture is what the old release made, and what the new one must find.
type fixture struct {
	project, org, user, token   string
	bucket, key, body           string
	access, secret              string
	volume, snapshot, clone, fs string
	export, cloneExport         string
	instance, offering, order   string
	volumeData                  []byte
}

func s3Client(n *testenv.Node, access, secret string) *s3.Client {
	return s3.New(s3.Options{Region: "local-1", BaseEndpoint: aws.String("http://" + n.Addrs.S3), UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(access, secret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired, ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired})
}

func exportOf(v obj) string {
	uri := v["attachments"].([]any)[0].(obj)["connection_info"].(obj)["uri"].(string)
	return testenv.ExportName(uri)
}

// fill makes one of every kind of resource through the old release.
func fill(t *testing.T, n *testenv.Node) fixture {
	ctx := context.Background()
	var f fixture
	var o obj
	n.Must("POST", "/api/v1/organisations", obj{"name": "acme"}, &o)
	f.org = o["id"].(string)
	n.Must("POST", "/api/v1/projects", obj{"name": "web", "organisation_id": f.org}, &o)
	f.project = o["id"].(string)
	n.Must("POST", "/api/v1/users", obj{"username": "alice", "email": "alice@example.org", "password": "a long enough password"}, &o)
	f.user = o["id"].(string)
	n.Must("POST", "/api/v1/projects/"+f.project+"/members", obj{"user_id": f.user, "role": "member"}, nil)
	n.Must("POST", "/api/v1/tokens", obj{"name": "ci"}, &o)
	f.token = o["token"].(string)

	f.bucket, f.key, f.body = "assets", "img/logo.txt", "kept across the upgrade\n"
	n.Must("POST", "/api/v1/projects/"+f.project+"/buckets", obj{"name": f.bucket}, nil)
	n.Must("POST", "/api/v1/projects/"+f.project+"/credentials", obj{"description": "upgrade"}, &o)
	f.access, f.secret = o["access_key_id"].(string), o["secret_access_key"].(string)
	if _, err := s3Client(n, f.access, f.secret).PutObject(ctx, &s3.PutObjectInput{Bucket: &f.bucket, Key: &f.key,
		Body: strings.NewReader(f.body)}); err != nil {
		t.Fatalf("put object through the old release: %v", err)
	}
	// A directory of more keys than the S3 handler reads before it lists
	// by directory, sorting before img/: a listing of the bucket's top
	// then finds img/ among the directories the upgrade recorded.
	for i := range oldDirKeys {
		k := fmt.Sprintf("a/%02d", i)
		if _, err := s3Client(n, f.access, f.secret).PutObject(ctx, &s3.PutObjectInput{Bucket: &f.bucket, Key: &k, Body: strings.NewReader("a")}); err != nil {
			t.Fatalf("put %s through the old release: %v", k, err)
		}
	}

	n.Must("POST", "/api/v1/instances", obj{"name": "vm", "project_id": f.project}, &o)
	f.instance = o["id"].(string)
	n.Must("POST", "/api/v1/volumes", obj{"name": "root", "size": 8 << 20, "type": "ssd", "project_id": f.project}, &o)
	f.volume = o["volume"].(obj)["id"].(string)
	waitStatus(t, n, "/api/v1/volumes/"+f.volume, "available")
	n.Must("POST", "/api/v1/volumes/"+f.volume+"/attach", obj{"instance_id": f.instance}, nil)
	f.export = exportOf(waitStatus(t, n, "/api/v1/volumes/"+f.volume, "in_use"))
	f.volumeData = bytes.Repeat([]byte("upgrade!"), 64<<10/8)
	nb, err := testenv.DialNBD(n.Addrs.NBD, f.export)
	if err != nil {
		t.Fatal(err)
	}
	if err := nb.Write(4096, f.volumeData, true); err != nil {
		t.Fatal(err)
	}
	nb.Close()
	n.Must("POST", "/api/v1/volumes/"+f.volume+"/snapshots", obj{"name": "before"}, &o)
	f.snapshot = o["snapshot"].(obj)["id"].(string)
	waitStatus(t, n, "/api/v1/snapshots/"+f.snapshot, "available")
	n.Must("POST", "/api/v1/volumes/"+f.volume+"/clone", obj{"name": "copy"}, &o)
	f.clone = o["volume"].(obj)["id"].(string)
	waitStatus(t, n, "/api/v1/volumes/"+f.clone, "available")
	n.Must("POST", "/api/v1/volumes", obj{"name": "share", "size": 8 << 20, "type": "filesystem", "project_id": f.project}, &o)
	f.fs = o["volume"].(obj)["id"].(string)
	waitStatus(t, n, "/api/v1/volumes/"+f.fs, "available")

	var offerings struct{ Items []obj }
	n.Must("GET", "/api/v1/offerings", nil, &offerings)
	if len(offerings.Items) == 0 {
		t.Fatal("the old release has no offerings")
	}
	f.offering = offerings.Items[0]["id"].(string)
	var orders struct{ Items []obj }
	n.Must("GET", "/api/v1/orders", nil, &orders)
	if len(orders.Items) > 0 {
		f.order = orders.Items[0]["id"].(string)
	}
	return f
}

// check reads, lists and uses everything through the current binary.
func check(t *testing.T, n *testenv.Node, f fixture) {
	ctx := context.Background()
	for _, p := range []string{"/api/v1/organisations/" + f.org, "/api/v1/projects/" + f.project, "/api/v1/volumes/" + f.volume,
		"/api/v1/volumes/" + f.clone, "/api/v1/volumes/" + f.fs, "/api/v1/snapshots/" + f.snapshot, "/api/v1/instances/" + f.instance,
		"/api/v1/offerings/" + f.offering, "/api/v1/projects/" + f.project + "/buckets/" + f.bucket} {
		n.Must("GET", p, nil, nil)
	}
	if f.order != "" {
		n.Must("GET", "/api/v1/orders/"+f.order, nil, nil)
	}
	for path, want := range map[string]int{"/api/v1/volumes?project_id=" + f.project: 3, "/api/v1/snapshots?project_id=" + f.project: 1,
		"/api/v1/projects/" + f.project + "/members": 1, "/api/v1/projects/" + f.project + "/credentials": 1} {
		if got := len(testenv.List[obj](n, path)); got < want {
			t.Errorf("%s lists %d, want at least %d", path, got, want)
		}
	}
	// The token made by the old release still authenticates.
	req, _ := http.NewRequest("GET", "http://"+n.Addrs.API+"/api/v1/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("old token: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	// alice logs in with the password hashed by the old release.
	var sess obj
	if _, err := n.Call("POST", "/api/v1/sessions", obj{"username": "alice", "password": "a long enough password"}, &sess); err != nil {
		t.Errorf("alice's login: %v", err)
	}

	c := s3Client(n, f.access, f.secret)
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &f.bucket, Key: &f.key})
	if err != nil {
		t.Fatalf("get the old object: %v", err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(b) != f.body {
		t.Errorf("old object reads %q", b)
	}
	l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &f.bucket})
	if err != nil || len(l.Contents) != 1+oldDirKeys {
		t.Errorf("list the old bucket: %v %d", err, len(l.Contents))
	}
	// A delimiter listing reads the directories the upgrade recorded
	// for the old keys.
	slash := "/"
	l, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &f.bucket, Delimiter: &slash})
	if err != nil || len(l.Contents) != 0 || len(l.CommonPrefixes) != 2 || *l.CommonPrefixes[0].Prefix != "a/" || *l.CommonPrefixes[1].Prefix != "img/" {
		t.Errorf("list the old bucket by directory: %v %d keys %v", err, len(l.Contents), l.CommonPrefixes)
	}
	newKey := "after.txt"
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &f.bucket, Key: &newKey, Body: strings.NewReader("new")}); err != nil {
		t.Errorf("put after the upgrade: %v", err)
	}

	// The attached volume and the clone read back what the old release
	// wrote; the volume takes new writes.
	nb, err := testenv.DialNBD(n.Addrs.NBD, f.export)
	if err != nil {
		t.Fatalf("old export after the upgrade: %v", err)
	}
	buf := make([]byte, len(f.volumeData))
	if err := nb.Read(4096, buf); err != nil || !bytes.Equal(buf, f.volumeData) {
		t.Errorf("volume data after the upgrade: %v", err)
	}
	if err := nb.Write(1<<20, []byte("written by the new binary......"), true); err != nil {
		t.Errorf("write after the upgrade: %v", err)
	}
	nb.Close()
	n.Must("POST", "/api/v1/volumes/"+f.clone+"/attach", obj{"instance_id": f.instance}, nil)
	cl, err := testenv.DialNBD(n.Addrs.NBD, exportOf(waitStatus(t, n, "/api/v1/volumes/"+f.clone, "in_use")))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Read(4096, buf); err != nil || !bytes.Equal(buf, f.volumeData) {
		t.Errorf("clone data after the upgrade: %v", err)
	}
	cl.Close()
	// New work through the job runner: a snapshot of the old volume.
	var o obj
	n.Must("POST", "/api/v1/volumes/"+f.volume+"/snapshots", obj{"name": "after"}, &o)
	waitStatus(t, n, "/api/v1/snapshots/"+o["snapshot"].(obj)["id"].(string), "available")
}

func TestUpgradeFromPreviousRelease(t *testing.T) {
	old := buildRelease(t, previousRelease)
	cur := testenv.Build(t)
	out, err := exec.Command(cur, "version").Output()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("schema version %d", sqlstore.SchemaVersion())) {
		t.Fatalf("stowage version: %v %s", err, out)
	}
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			if engine == "postgres" {
				t.Setenv("STOWAGE_DATABASE", testenv.FreshPostgres(t))
			}
			dir := t.TempDir()
			log := filepath.Join(t.TempDir(), "node.log")
			start := time.Now()
			n := testenv.StartNode(t, old, dir, log)
			f := fill(t, n)
			n.Stop()
			filled := time.Since(start)
			start = time.Now()
			n = testenv.StartNode(t, cur, dir, log)
			migrated := time.Since(start)
			check(t, n, f)
			n.Stop()
			fmt.Printf("upgrade (%s): filled through %s (schema 90) in %v; the current binary (schema %d) migrated and started in %v, then read, listed and wrote everything\n",
				engine, previousRelease, filled.Round(time.Millisecond), sqlstore.SchemaVersion(), migrated.Round(time.Millisecond))
		})
	}
}
