//go:build ceph

package hpcai_test

import (
	"context"
	"testing"

	"github.com/stowage/stowage/internal/cephfs"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/testenv"
)

// TestCephFilesystemVolumeOverNFS is TestFilesystemVolumeOverNFS with the
// volumes in the test cluster's CephFS (serve --cephfs).
func TestCephFilesystemVolumeOverNFS(t *testing.T) {
	testFilesystemVolumeOverNFS(t, func(t *testing.T, e *testenv.Env, id string) {
		st, err := cephfs.Open(context.Background(), testenv.CephFSOptions(t))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, _, err := st.Usage(context.Background(), id); errs.KindOf(err) != errs.NotExist {
			t.Fatalf("the deleted volume's CephFS directory: %v", err)
		}
	}, testenv.CephFS(t))
}
