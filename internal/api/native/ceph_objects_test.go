//go:build ceph

package native_test

import (
	"bytes"
	"crypto/rand"
	"io/fs"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stowage/stowage/internal/testenv"
)

// TestCephObjects runs a server with --ceph and stores an object through
// S3: its bytes are in the RADOS pool (read back whole and by range) and
// none are on the node's disk.
func TestCephObjects(t *testing.T) {
	e := testenv.Start(t, testenv.Ceph(t))
	admin := testenv.Bearer(e.AdminToken)
	c := client{t: t, e: e, auth: admin}
	prj := c.project()
	wantStatus(t, e.Do("POST", "/api/v1/projects/"+prj+"/buckets", admin, map[string]any{"name": "on-rados"}), 201)
	var cred struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	r := e.Do("POST", "/api/v1/projects/"+prj+"/credentials", admin, nil)
	wantStatus(t, r, 201)
	r.JSON(t, &cred)
	creds := &aws.Credentials{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey}
	data := make([]byte, 5<<20+3) // two stripes
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if put := e.S3(creds, "PUT", "/on-rados/big", "", nil, data); put.Status != 200 {
		t.Fatalf("put: %d %s", put.Status, put.Body)
	}
	if get := e.S3(creds, "GET", "/on-rados/big", "", nil, nil); get.Status != 200 || !bytes.Equal(get.Body, data) {
		t.Fatalf("get: %d, %d bytes", get.Status, len(get.Body))
	}
	if get := e.S3(creds, "GET", "/on-rados/big", "", http.Header{"Range": {"bytes=4194300-4194309"}}, nil); get.Status != 206 || !bytes.Equal(get.Body, data[4194300:4194310]) {
		t.Fatalf("range across the stripes: %d %q", get.Status, get.Body)
	}
	files := 0
	_ = filepath.WalkDir(filepath.Join(e.DataDir, "objects"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files++
		}
		return nil
	})
	if files != 0 {
		t.Fatalf("%d files under the data dir's objects: bodies belong in RADOS", files)
	}
	// The operator's pool view answers (its RADOS counters come from the
	// mgr, which the test cluster does not run).
	wantStatus(t, e.Do("GET", "/api/v1/admin/pools", admin, nil), 200)
}
