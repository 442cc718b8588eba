package testenv

import (
	"os"
	"testing"

	"github.com/stowage/stowage/internal/config"
)

// CephConf returns the ceph.conf of the throwaway cluster `make test`
// starts (scripts/test-ceph.sh) from TEST_CEPH_CONF; without it the test
// fails, since a Ceph suite that skips proves nothing.
func CephConf(t testing.TB) string {
	t.Helper()
	conf := os.Getenv("TEST_CEPH_CONF")
	if conf == "" {
		t.Fatal("TEST_CEPH_CONF is not set: run the Ceph suite with `make test`, which starts a cluster (scripts/test-ceph.sh)")
	}
	return conf
}

// Ceph is an Option that keeps block volumes in the test cluster's RBD
// pool as the restricted user client.stowage. The server must be built
// with the ceph tag.
func Ceph(t testing.TB) Option {
	conf := CephConf(t)
	return func(c *config.Config) {
		c.Ceph, c.CephUser, c.RBDPool = conf, "client.stowage", "stowage-volumes"
	}
}

// CephArgs are the serve flags that keep block volumes in the test
// cluster's RBD pool as client.stowage, for a binary from BuildCeph.
func CephArgs(t testing.TB) []string {
	return []string{"--ceph", CephConf(t), "--ceph-user", "client.stowage", "--rbd-pool", "stowage-volumes"}
}

// CephFSName is the CephFS file system scripts/test-ceph.sh makes when
// STOWAGE_TEST_CEPH_FS=1.
const CephFSName = "stowagefs"

// CephFS is an Option that keeps filesystem volumes in the test
// cluster's CephFS as client.stowage (and block volumes in its RBD pool,
// as Ceph does).
func CephFS(t testing.TB) Option {
	ceph := Ceph(t)
	return func(c *config.Config) {
		ceph(c)
		c.CephFS = CephFSName
	}
}
