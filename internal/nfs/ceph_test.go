//go:build ceph

package nfs_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
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

// Two nodes on one CephFS serve one volume under one export name: what a
// client writes through one reads back byte-identical through the other,
// the other's listing shows it, and the quota holds across both (the
// second node refuses a copy that the first node's files leave no room
// for).
func TestCephTwoNodesServeOneVolume(t *testing.T) {
	a := startOn(t, onCephFS, 8<<20)
	b := a.secondNode(onCephFS)
	data := random(6<<20 + 1)
	a.must("nfs-cp", a.local("data.bin", data), a.url("/data.bin"))
	back := filepath.Join(a.tmp, "back.bin")
	b.must("nfs-cp", b.url("/data.bin"), back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
		t.Fatal("data.bin read through the second node differs")
	}
	if ls := b.must("nfs-ls", b.url("")); !strings.Contains(ls, "data.bin") {
		t.Fatalf("the second node's listing lacks data.bin:\n%s", ls)
	}
	a.usageWithin(int64(len(data)), int64(len(data)))
	if out, err := b.run("nfs-cp", b.local("over.bin", random(4<<20)), b.url("/over.bin")); err == nil {
		t.Fatalf("the second node took 4 MiB more into a volume with 2 MiB left:\n%s", out)
	}
}

// BenchmarkCephCopy is BenchmarkCopy on CephFS, with 64 MiB (the test
// cluster's OSD keeps every byte in RAM, twice).
func BenchmarkCephCopy(b *testing.B) { benchCopy(b, onCephFS, 64) }
