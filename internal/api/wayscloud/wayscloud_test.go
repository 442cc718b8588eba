package wayscloud_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

type obj = map[string]any

func key(tok string) http.Header { return http.Header{"X-Api-Key": {tok}} }

func do(t *testing.T, e *testenv.Env, method, path, tok string, body any) (int, obj) {
	t.Helper()
	r := e.DoHeaders(method, path, key(tok), body)
	var m obj
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s %s: %d %q is not a JSON object", method, path, r.Status, r.Body)
	}
	return r.Status, m
}

func wantError(t *testing.T, status int, body obj, wantStatus int, code string) {
	t.Helper()
	e, _ := body["error"].(map[string]any)
	if status != wantStatus || e == nil || e["code"] != code || e["message"] == "" {
		t.Fatalf("got %d %v, want %d with code %s", status, body, wantStatus, code)
	}
}

// awsCLI runs Debian's aws-cli against the server with the given keys.
func awsCLI(t *testing.T, endpoint, ak, sk string, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command("/usr/bin/aws", append([]string{"--endpoint-url", endpoint, "--region", "local-1"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk,
		"AWS_CONFIG_FILE="+filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestBucketsAndCredentials(t *testing.T) {
	e := testenv.Start(t)
	tok := e.AdminToken

	status, body := do(t, e, "POST", "/v1/storage/buckets", tok, obj{"bucket_name": "photos"})
	if status != 201 || body["success"] != true || body["bucket_name"] != "photos" || body["region"] != "no-oslo-1" ||
		body["endpoint"] != "http://"+e.Addrs.S3+"/photos" {
		t.Fatalf("create: %d %v", status, body)
	}
	status, body = do(t, e, "POST", "/v1/storage/buckets", tok, obj{"bucket_name": "photos"})
	wantError(t, status, body, 409, "BUCKET_ALREADY_EXISTS")
	for _, bad := range []obj{{"bucket_name": "No_Caps"}, {"bucket_name": "ab"}, {"bucket_name": "-lead"}, {"bucket_name": "dots.are.out"}, {}} {
		status, body := do(t, e, "POST", "/v1/storage/buckets", tok, bad)
		wantError(t, status, body, 400, "INVALID_PARAMETER")
		if d, _ := body["error"].(obj)["details"].(obj); d["field"] != "bucket_name" {
			t.Errorf("%v: details %v", bad, body)
		}
	}
	status, body = do(t, e, "POST", "/v1/storage/buckets", tok, obj{"bucket_name": "tiered", "tier": "platinum"})
	wantError(t, status, body, 400, "INVALID_PARAMETER")
	status, body = do(t, e, "POST", "/v1/storage/buckets", tok, obj{"bucket_name": "tiered", "region": "us-east-1"})
	wantError(t, status, body, 400, "INVALID_PARAMETER")

	// The credentials work over S3 with a stock client, and are stable.
	_, cred := do(t, e, "GET", "/v1/storage/credentials", tok, nil)
	_, again := do(t, e, "GET", "/v1/storage/credentials", tok, nil)
	if diff := cmp.Diff(cred, again); diff != "" || cred["endpoint_url"] != "http://"+e.Addrs.S3 || cred["region"] != "eu-north-1" {
		t.Fatalf("credentials %v, then %s", cred, diff)
	}
	ak, sk := cred["access_key_id"].(string), cred["secret_access_key"].(string)
	dir := t.TempDir()
	small, big := filepath.Join(dir, "small"), filepath.Join(dir, "big")
	os.WriteFile(small, []byte("hello"), 0o600)
	data := make([]byte, 20<<20)
	rand.Read(data)
	os.WriteFile(big, data, 0o600)
	for _, args := range [][]string{
		{"s3", "cp", small, "s3://photos/a.txt"},
		{"s3", "cp", small, "s3://photos/a.txt"}, // overwrite: no double counting
		{"s3", "cp", big, "s3://photos/big.bin"}, // multipart (20 MiB > 8 MiB threshold)
	} {
		if out, err := awsCLI(t, cred["endpoint_url"].(string), ak, sk, args...); err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, out)
		}
	}
	_, b := do(t, e, "GET", "/v1/storage/buckets/photos", tok, nil)
	if b["size_bytes"] != float64(5+20<<20) || b["object_count"] != float64(2) || b["is_public"] != false || b["tier"] != "standard" {
		t.Fatalf("bucket after uploads: %v", b)
	}
	out, err := awsCLI(t, cred["endpoint_url"].(string), ak, sk, "s3", "cp", "s3://photos/big.bin", filepath.Join(dir, "back"))
	if err != nil {
		t.Fatalf("download: %v %s", err, out)
	}
	if back, _ := os.ReadFile(filepath.Join(dir, "back")); !bytes.Equal(back, data) {
		t.Fatal("downloaded bytes differ")
	}
	_, l := do(t, e, "GET", "/v1/storage/buckets", tok, nil)
	if l["total"] != float64(1) || len(l["buckets"].([]any)) != 1 {
		t.Fatalf("list %v", l)
	}

	// Delete: refused while not empty; the name is then retired.
	status, body = do(t, e, "DELETE", "/v1/storage/buckets/photos", tok, nil)
	wantError(t, status, body, 409, "BUCKET_NOT_EMPTY")
	if out, err := awsCLI(t, cred["endpoint_url"].(string), ak, sk, "s3", "rm", "--recursive", "s3://photos/"); err != nil {
		t.Fatalf("rm: %v %s", err, out)
	}
	_, b = do(t, e, "GET", "/v1/storage/buckets/photos", tok, nil)
	if b["size_bytes"] != float64(0) || b["object_count"] != float64(0) {
		t.Fatalf("bucket after deletes: %v", b)
	}
	if status, body = do(t, e, "DELETE", "/v1/storage/buckets/photos", tok, nil); status != 200 || body["success"] != true {
		t.Fatalf("delete: %d %v", status, body)
	}
	status, body = do(t, e, "POST", "/v1/storage/buckets", tok, obj{"bucket_name": "photos"})
	wantError(t, status, body, 409, "BUCKET_NAME_UNAVAILABLE")
	status, body = do(t, e, "GET", "/v1/storage/buckets/photos", tok, nil)
	wantError(t, status, body, 404, "BUCKET_NOT_FOUND")

	r := e.DoHeaders("GET", "/storage/s3", key(tok), nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), "http://"+e.Addrs.S3) || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/markdown") {
		t.Fatalf("guide: %d %s", r.Status, r.Body)
	}
}

// TestSeedRegions: a default install answers the seed's examples verbatim
// (buckets in no-oslo-1, S3 clients told eu-north-1, which they sign
// for), and an operator can rename both.
func TestSeedRegions(t *testing.T) {
	e := testenv.Start(t)
	tok := e.AdminToken
	status, body := do(t, e, "POST", "/v1/storage/buckets", tok, obj{"bucket_name": "oslo", "tier": "standard", "region": "no-oslo-1"})
	if status != 201 || body["region"] != "no-oslo-1" {
		t.Fatalf("create in the seed's region: %d %v", status, body)
	}
	// The core's own name for the region stays accepted.
	if status, body = do(t, e, "POST", "/v1/storage/buckets", tok, obj{"bucket_name": "local", "region": "local-1"}); status != 201 {
		t.Fatalf("create in local-1: %d %v", status, body)
	}
	_, l := do(t, e, "GET", "/v1/storage/buckets", tok, nil)
	for _, b := range l["buckets"].([]any) {
		if b.(obj)["region"] != "no-oslo-1" {
			t.Errorf("listed %v", b)
		}
	}
	_, cred := do(t, e, "GET", "/v1/storage/credentials", tok, nil)
	if cred["region"] != "eu-north-1" {
		t.Fatalf("credentials %v", cred)
	}
	r := e.DoHeaders("GET", "/storage/s3", key(tok), nil)
	if !strings.Contains(string(r.Body), "eu-north-1") {
		t.Fatalf("guide names no eu-north-1: %s", r.Body)
	}
	// aws-cli signs for the region the credentials name.
	cmd := exec.Command("/usr/bin/aws", "--endpoint-url", cred["endpoint_url"].(string), "--region", cred["region"].(string), "s3", "ls", "s3://oslo/")
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "AWS_ACCESS_KEY_ID="+cred["access_key_id"].(string),
		"AWS_SECRET_ACCESS_KEY="+cred["secret_access_key"].(string), "AWS_CONFIG_FILE="+filepath.Join(home, "none"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("aws s3 ls signed for eu-north-1: %v %s", err, out)
	}

	renamed := testenv.Start(t, func(c *config.Config) {
		c.DialectRegions = map[string]string{"wayscloud": "no-bergen-1", "wayscloud-s3": "eu-west-9"}
	})
	status, body = do(t, renamed, "POST", "/v1/storage/buckets", renamed.AdminToken, obj{"bucket_name": "bergen", "region": "no-bergen-1"})
	if status != 201 || body["region"] != "no-bergen-1" {
		t.Fatalf("create in the renamed region: %d %v", status, body)
	}
	status, body = do(t, renamed, "POST", "/v1/storage/buckets", renamed.AdminToken, obj{"bucket_name": "oslo2", "region": "no-oslo-1"})
	wantError(t, status, body, 400, "INVALID_PARAMETER")
	if _, cred := do(t, renamed, "GET", "/v1/storage/credentials", renamed.AdminToken, nil); cred["region"] != "eu-west-9" {
		t.Fatalf("renamed credentials %v", cred)
	}
}

func TestAccountsAreWalls(t *testing.T) {
	e := testenv.Start(t)
	admin := testenv.Bearer(e.AdminToken)
	do(t, e, "POST", "/v1/storage/buckets", e.AdminToken, obj{"bucket_name": "private-stuff"})

	// Another organisation's owner gets a key bound to their project.
	u := e.Do("POST", "/api/v1/users", admin, obj{"username": "mallory", "password": "mallory-password"})
	var user, org, proj, sess, tk obj
	u.JSON(t, &user)
	e.Do("POST", "/api/v1/organisations", admin, obj{"name": "evil"}).JSON(t, &org)
	e.Do("POST", "/api/v1/organisations/"+org["id"].(string)+"/members", admin, obj{"user_id": user["id"], "role": "owner"})
	e.Do("POST", "/api/v1/sessions", "", obj{"username": "mallory", "password": "mallory-password"}).JSON(t, &sess)
	e.Do("POST", "/api/v1/projects", testenv.Bearer(sess["token"].(string)), obj{"organisation_id": org["id"], "name": "p"}).JSON(t, &proj)
	e.Do("POST", "/api/v1/tokens", testenv.Bearer(sess["token"].(string)), obj{"project_id": proj["id"]}).JSON(t, &tk)
	other := tk["token"].(string)

	status, body := do(t, e, "GET", "/v1/storage/buckets/private-stuff", other, nil)
	wantError(t, status, body, 404, "BUCKET_NOT_FOUND")
	status, body = do(t, e, "DELETE", "/v1/storage/buckets/private-stuff", other, nil)
	wantError(t, status, body, 404, "BUCKET_NOT_FOUND")
	status, body = do(t, e, "POST", "/v1/storage/buckets", other, obj{"bucket_name": "private-stuff"})
	wantError(t, status, body, 409, "BUCKET_ALREADY_EXISTS")
	if _, l := do(t, e, "GET", "/v1/storage/buckets", other, nil); l["total"] != float64(0) {
		t.Fatalf("other account lists %v", l)
	}
	_, cred := do(t, e, "GET", "/v1/storage/credentials", other, nil)
	out, err := awsCLI(t, cred["endpoint_url"].(string), cred["access_key_id"].(string), cred["secret_access_key"].(string), "s3", "ls", "s3://private-stuff/")
	if err == nil || !strings.Contains(out, "AccessDenied") {
		t.Fatalf("other account listed the bucket over S3: %v %s", err, out)
	}

	status, body = do(t, e, "GET", "/v1/storage/buckets", "stw_wrong", nil)
	wantError(t, status, body, 401, "AUTH_FAILED")
	r := e.Do("GET", "/v1/storage/buckets", "Bearer "+e.AdminToken, nil)
	if r.Status != 200 {
		t.Fatalf("Bearer auth: %d %s", r.Status, r.Body)
	}
}

// TestProjectQuotaCoversObjects sets a project storage quota and sees S3
// writes into the project's buckets refused past it, with earlier objects
// intact.
func TestProjectQuotaCoversObjects(t *testing.T) {
	e := testenv.Start(t)
	var ps struct{ Items []obj }
	e.Do("GET", "/api/v1/projects", testenv.Bearer(e.AdminToken), nil).JSON(t, &ps)
	project := ps.Items[0]["id"].(string)
	if r := e.Do("PUT", "/api/v1/projects/"+project+"/quotas", testenv.Bearer(e.AdminToken), obj{"storage_bytes": 3 << 20}); r.Status != 200 {
		t.Fatalf("set quota: %d %s", r.Status, r.Body)
	}
	do(t, e, "POST", "/v1/storage/buckets", e.AdminToken, obj{"bucket_name": "capped"})
	_, cred := do(t, e, "GET", "/v1/storage/credentials", e.AdminToken, nil)
	ep, ak, sk := cred["endpoint_url"].(string), cred["access_key_id"].(string), cred["secret_access_key"].(string)
	dir := t.TempDir()
	two := filepath.Join(dir, "two")
	os.WriteFile(two, bytes.Repeat([]byte("x"), 2<<20), 0o600)
	if out, err := awsCLI(t, ep, ak, sk, "s3api", "put-object", "--bucket", "capped", "--key", "a", "--body", two); err != nil {
		t.Fatalf("first 2 MiB: %v %s", err, out)
	}
	out, err := awsCLI(t, ep, ak, sk, "s3api", "put-object", "--bucket", "capped", "--key", "b", "--body", two)
	if err == nil || !strings.Contains(out, "QuotaExceeded") {
		t.Fatalf("second 2 MiB past a 3 MiB quota: %v %s", err, out)
	}
	if _, b := do(t, e, "GET", "/v1/storage/buckets/capped", e.AdminToken, nil); b["size_bytes"] != float64(2<<20) || b["object_count"] != float64(1) {
		t.Fatalf("bucket after the refused write: %v", b)
	}
	var q struct{ Usage obj }
	e.Do("GET", "/api/v1/projects/"+project+"/quotas", testenv.Bearer(e.AdminToken), nil).JSON(t, &q)
	if q.Usage["storage_bytes"] != float64(2<<20) {
		t.Fatalf("quota usage %v, want the object's 2 MiB counted", q.Usage)
	}
	// The same quota stops a volume that would not fit next to the objects.
	r := e.Do("POST", "/api/v1/volumes", testenv.Bearer(e.AdminToken), obj{"project_id": project, "name": "big", "size": 2 << 20, "type": "ssd"})
	if r.Status != 403 || !strings.Contains(string(r.Body), "quota") {
		t.Fatalf("volume past the quota: %d %s", r.Status, r.Body)
	}
}
