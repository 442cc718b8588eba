//go:build ceph

package testenv

import (
	"testing"

	"github.com/stowage/stowage/internal/cephfs"
)

// CephFSOptions reach the test cluster's CephFS (scripts/test-ceph.sh
// with STOWAGE_TEST_CEPH_FS=1) as client.stowage.
func CephFSOptions(t testing.TB) cephfs.Options {
	return cephfs.Options{Conf: CephConf(t), User: "client.stowage", FS: CephFSName}
}
