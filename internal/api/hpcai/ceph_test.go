//go:build ceph

package hpcai_test

import (
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

// TestCephFilesystemVolumeOverNFS is TestFilesystemVolumeOverNFS with the
// volumes in the test cluster's CephFS (serve --cephfs).
func TestCephFilesystemVolumeOverNFS(t *testing.T) {
	testFilesystemVolumeOverNFS(t, testenv.CephFS(t))
}
