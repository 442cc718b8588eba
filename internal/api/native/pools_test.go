package native_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/uuid"

	"github.com/stowage/stowage/internal/testenv"
)

func TestAdminPools(t *testing.T) { engines(t, testAdminPools) }

func testAdminPools(t *testing.T, e *testenv.Env) {
	admin := testenv.Bearer(e.AdminToken)
	alice := newTenant(t, e, "alice")

	// Only staff with an unbound token: a tenant and a project-bound staff
	// token are refused alike.
	var bound struct{ Token string }
	r := e.Do("POST", "/api/v1/tokens", admin, map[string]any{"name": "bound", "project_id": alice.project})
	wantStatus(t, r, 201)
	r.JSON(t, &bound)
	for _, tok := range []string{alice.token, bound.Token} {
		wantProblem(t, e.Do("GET", "/api/v1/admin/pools", testenv.Bearer(tok), nil), 403, "permission_denied")
		wantProblem(t, e.Do("POST", "/api/v1/admin/pools/block/fsck", testenv.Bearer(tok), nil), 403, "permission_denied")
		wantProblem(t, e.Do("POST", "/api/v1/admin/pools/object/gc", testenv.Bearer(tok), nil), 403, "permission_denied")
	}
	wantProblem(t, e.Do("GET", "/api/v1/admin/pools", "", nil), 401, "unauthorized")

	var pools struct {
		Block  map[string]int64 `json:"block"`
		Object map[string]int64 `json:"object"`
	}
	r = e.Do("GET", "/api/v1/admin/pools", admin, nil)
	wantStatus(t, r, 200)
	r.JSON(t, &pools)
	if pools.Block["chunk_size"] <= 0 || pools.Block["capacity_bytes"] <= 0 || pools.Object["capacity_bytes"] <= 0 {
		t.Errorf("pools %+v", pools)
	}

	var fsck struct {
		Clean    bool     `json:"clean"`
		Problems []string `json:"problems"`
	}
	r = e.Do("POST", "/api/v1/admin/pools/block/fsck", admin, nil)
	wantStatus(t, r, 200)
	r.JSON(t, &fsck)
	if !fsck.Clean || fsck.Problems == nil || len(fsck.Problems) != 0 {
		t.Errorf("fsck of a fresh pool: %s", r.Body)
	}

	// An old orphan goes; a young one may belong to a write in flight and
	// stays.
	orphan := func(age time.Duration) string {
		id := uuid.Must(uuid.NewV7()).String()
		p := filepath.Join(e.DataDir, "objects", "blobs", id[len(id)-2:], id)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("lost"), 0o640); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old, young := orphan(2*time.Hour), orphan(0)
	// A small object lives in the database: counted inline, not as a blob.
	wantStatus(t, e.Do("POST", "/api/v1/projects/"+alice.project+"/buckets", testenv.Bearer(alice.token), map[string]any{"name": "pools-inline"}), 201)
	var c struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	r = e.Do("POST", "/api/v1/projects/"+alice.project+"/credentials", testenv.Bearer(alice.token), nil)
	wantStatus(t, r, 201)
	r.JSON(t, &c)
	if put := e.S3(&aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}, "PUT", "/pools-inline/small", "", nil, []byte("hello")); put.Status != 200 {
		t.Fatalf("put: %d %s", put.Status, put.Body)
	}
	r = e.Do("GET", "/api/v1/admin/pools", admin, nil)
	r.JSON(t, &pools)
	if pools.Object["blobs"] != 2 || pools.Object["blob_bytes"] != 8 || pools.Object["inline_objects"] != 1 || pools.Object["inline_bytes"] != 5 {
		t.Errorf("object pool with two orphans and an inline object: %+v", pools.Object)
	}
	var gc struct {
		Removed int    `json:"removed"`
		Cutoff  string `json:"cutoff"`
	}
	r = e.Do("POST", "/api/v1/admin/pools/object/gc", admin, nil)
	wantStatus(t, r, 200)
	r.JSON(t, &gc)
	if gc.Removed != 1 || gc.Cutoff == "" {
		t.Errorf("gc: %s", r.Body)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("old orphan still there: %v", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("young orphan removed: %v", err)
	}
	p := wantProblem(t, e.Do("POST", "/api/v1/admin/pools/object/gc", admin, map[string]any{"min_age_seconds": 5}), 400, "invalid")
	if p.Field != "min_age_seconds" {
		t.Errorf("problem field %q", p.Field)
	}
	wantProblem(t, e.Do("POST", "/api/v1/admin/pools/object/gc", admin, map[string]any{"bogus": 1}), 400, "invalid")
}
