//go:build ceph

package nfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/stowage/stowage/internal/cephfs"
)

// cephVolume is a fresh 1 MiB volume in the test cluster's CephFS
// (TEST_CEPH_CONF, file system stowagefs, as client.stowage), deleted
// when the test ends. testenv, which says the same, imports this
// package through the server.
func cephVolume(t *testing.T) quotaFS {
	t.Helper()
	conf := os.Getenv("TEST_CEPH_CONF")
	if conf == "" {
		t.Fatal("TEST_CEPH_CONF is not set: run the Ceph suite with `make test`, which starts a cluster (scripts/test-ceph.sh)")
	}
	ctx := context.Background()
	st, err := cephfs.Open(ctx, cephfs.Options{Conf: conf, User: "client.stowage", FS: "stowagefs"})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := "vol-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if err := st.Delete(context.Background(), id); err != nil {
			t.Errorf("delete the volume: %v", err)
		}
		st.Close()
	})
	if err := st.Create(ctx, id, 1<<20); err != nil {
		t.Fatal(err)
	}
	v, err := st.Volume(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The wire-level permission tests' bodies on CephFS.
func TestCephPermissionChecks(t *testing.T)       { testPermissionChecks(t, cephVolume) }
func TestCephRootAllowedPerExport(t *testing.T)   { testRootAllowedPerExport(t, cephVolume) }
func TestCephQuotaCountsEverything(t *testing.T)  { testQuotaCountsEverything(t, cephVolume, false) }
func TestCephSymlinksAreNotFollowed(t *testing.T) { testSymlinksAreNotFollowed(t, cephVolume) }
func TestCephExportsServeOnlyTheirClients(t *testing.T) {
	testExportsServeOnlyTheirClients(t, cephVolume)
}
