package waldur_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/stowage/stowage/internal/testenv"
)

// zeros is an endless body that costs nothing to produce.
type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

func aws(t *testing.T, endpoint, ak, sk string, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command("/usr/bin/aws", append([]string{"--endpoint-url", endpoint, "--region", "local-1"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk,
		"AWS_CONFIG_FILE="+filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestObjectStorageOrderLifecycle sends the seed's request as written,
// polls the order as Terraform's provider does, uses the service over S3
// with its own keys, hits its storage limit, grows it, and terminates it.
func TestObjectStorageOrderLifecycle(t *testing.T) {
	e := start(t)
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	r := e.Do("POST", "/api/marketplace-orders/", auth, `{
    "project": "`+c.project["uuid"].(string)+`",
    "offering": "`+c.storage["uuid"].(string)+`",
    "plan": "`+c.storagePlan["uuid"].(string)+`",
    "attributes": {
    "name": "my-storage"
    },
    "limits": {
    "storage": 1
    }
    }`)
	want(t, r, 201, "")
	order := decode[obj](t, r)
	done := waitOrder(t, e, auth, order["uuid"].(string), "done", "erred")
	if done["state"] != "done" {
		t.Fatalf("order %v: %v", done["state"], done["error_message"])
	}
	id, _ := done["resource_uuid"].(string)
	if !hexUUID.MatchString(id) || done["resource_type"] != "Marketplace.Resource" {
		t.Fatalf("resource_uuid %v type %v", done["resource_uuid"], done["resource_type"])
	}
	res := decode[obj](t, e.Do("GET", "/api/marketplace-resources/"+done["marketplace_resource_uuid"].(string)+"/", auth, nil))
	if res["state"] != "OK" || res["limits"].(obj)["storage"] != float64(1) {
		t.Fatalf("resource %v", res)
	}

	native := testenv.Bearer(e.AdminToken)
	svc := decode[obj](t, e.Do("GET", "/api/v1/object-storage/"+dashed(id), native, nil))
	if svc["storage_limit_bytes"] != float64(1<<30) || svc["name"] != "my-storage" {
		t.Fatalf("service %v", svc)
	}
	creds := decode[obj](t, e.Do("GET", "/api/v1/object-storage/"+dashed(id)+"/credentials", native, nil))["items"].([]any)
	cred := creds[0].(obj)
	ep, ak, sk := cred["endpoint_url"].(string), cred["access_key_id"].(string), cred["secret_access_key"].(string)
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	os.WriteFile(f, []byte("in the service"), 0o600)
	if out, err := aws(t, ep, ak, sk, "s3", "cp", f, "s3://my-storage/f"); err != nil {
		t.Fatalf("upload: %v %s", err, out)
	}
	if out, err := aws(t, ep, ak, sk, "s3", "cp", "s3://my-storage/f", filepath.Join(dir, "back")); err != nil {
		t.Fatalf("download: %v %s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "back")); string(b) != "in the service" {
		t.Fatalf("downloaded %q", b)
	}
	// The service's keys reach the service's buckets only, not the
	// project's other buckets.
	if r := e.Do("POST", "/api/v1/projects/"+dashed(c.project["uuid"].(string))+"/buckets", native, obj{"name": "project-only"}); r.Status != 201 {
		t.Fatalf("project bucket: %d %s", r.Status, r.Body)
	}
	if out, err := aws(t, ep, ak, sk, "s3", "ls"); err != nil || !strings.Contains(out, "my-storage") || strings.Contains(out, "project-only") {
		t.Fatalf("service key lists: %v %s", err, out)
	}
	for _, args := range [][]string{{"s3", "ls", "s3://project-only/"}, {"s3", "cp", f, "s3://project-only/f"}} {
		if out, err := aws(t, ep, ak, sk, args...); err == nil || !strings.Contains(out, "AccessDenied") {
			t.Fatalf("service key on a project bucket (%v): %v %s", args, err, out)
		}
	}
	if r := e.Do("DELETE", "/api/v1/projects/"+dashed(c.project["uuid"].(string))+"/buckets/project-only", native, nil); r.Status != 204 && r.Status != 200 {
		t.Fatalf("delete project bucket: %d %s", r.Status, r.Body)
	}

	// An upload past the 1 GiB limit is refused from its headers, before
	// the body is sent: the client declares the size and waits for 100
	// Continue, as S3 clients do with large bodies. (The aws CLI would
	// first hash the whole GiB, for tens of seconds on a busy machine.)
	req, err := http.NewRequest("PUT", ep+"/my-storage/huge", io.LimitReader(zeros{}, 1<<30))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 1 << 30
	req.Header.Set("Expect", "100-continue")
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if err := v4.NewSigner().SignHTTP(context.Background(), awssdk.Credentials{AccessKeyID: ak, SecretAccessKey: sk},
		req, "UNSIGNED-PAYLOAD", "s3", e.Config.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := (&http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}).Do(req)
	if err != nil {
		t.Fatalf("upload over the limit: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "QuotaExceeded") {
		t.Fatalf("upload over the limit: %d %s", resp.StatusCode, body)
	}
	t.Logf("refused in %v", time.Since(start))

	// Shrinking below usage is refused; the order errs and the resource
	// stays OK. Terminating a service with data is refused the same way.
	rid := done["marketplace_resource_uuid"].(string)
	up := decode[obj](t, e.Do("POST", "/api/marketplace-resources/"+rid+"/update_limits/", auth, obj{"limits": obj{"storage": 2}}))
	if o := waitOrder(t, e, auth, up["order_uuid"].(string), "done", "erred"); o["state"] != "done" {
		t.Fatalf("grow: %v", o)
	}
	svc = decode[obj](t, e.Do("GET", "/api/v1/object-storage/"+dashed(id), native, nil))
	if svc["storage_limit_bytes"] != float64(2<<30) {
		t.Fatalf("limit after update %v", svc["storage_limit_bytes"])
	}
	term := decode[obj](t, e.Do("POST", "/api/marketplace-resources/"+rid+"/terminate/", auth, nil))
	o := waitOrder(t, e, auth, term["order_uuid"].(string), "done", "erred")
	if o["state"] != "erred" || !strings.Contains(o["error_message"].(string), "empty its buckets first") {
		t.Fatalf("terminate with data: %v %v", o["state"], o["error_message"])
	}
	if res := decode[obj](t, e.Do("GET", "/api/marketplace-resources/"+rid+"/?field=state", auth, nil)); res["state"] != "OK" {
		t.Fatalf("resource after refused terminate: %v", res)
	}
	if out, err := aws(t, ep, ak, sk, "s3", "rm", "s3://my-storage/f"); err != nil {
		t.Fatalf("rm: %v %s", err, out)
	}
	term = decode[obj](t, e.Do("POST", "/api/marketplace-resources/"+rid+"/terminate/", auth, nil))
	if o := waitOrder(t, e, auth, term["order_uuid"].(string), "done", "erred"); o["state"] != "done" {
		t.Fatalf("terminate: %v", o)
	}
	if res := decode[obj](t, e.Do("GET", "/api/marketplace-resources/"+rid+"/?field=state", auth, nil)); res["state"] != "Terminated" {
		t.Fatalf("resource after terminate: %v", res)
	}
	if out, err := aws(t, ep, ak, sk, "s3", "ls", "s3://my-storage/"); err == nil {
		t.Fatalf("the service's keys still work after terminate: %s", out)
	}
}
