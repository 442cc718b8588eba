//go:build ceph

package nfs_test

import (
	"context"
	"testing"

	"github.com/stowage/stowage/internal/cephfs"
	"github.com/stowage/stowage/internal/nfs"
	"github.com/stowage/stowage/internal/testenv"
)

// cephStore is the test cluster's CephFS as client.stowage.
type cephStore struct{ *cephfs.Store }

func (c cephStore) Open(ctx context.Context, id string) (nfs.FS, error) {
	v, err := c.Volume(ctx, id)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// onCephFS keeps each test's volume in the test cluster's CephFS, where
// usage counts file contents only.
var onCephFS = backend{open: func(t testing.TB) volumes {
	st, err := cephfs.Open(context.Background(), testenv.CephFSOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	return cephStore{st}
}}

// The libnfs tests' bodies on CephFS.
func TestCephCopyInOutListAndQuota(t *testing.T) { testCopyInOutListAndQuota(t, onCephFS) }
func TestCephRevokedExportAndUnknownNames(t *testing.T) {
	testRevokedExportAndUnknownNames(t, onCephFS)
}
func TestCephPermissionsThroughLibnfs(t *testing.T) { testPermissionsThroughLibnfs(t, onCephFS) }
