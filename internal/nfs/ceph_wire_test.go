//go:build ceph

package nfs

import (
	"bufio"
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
	_, v := newCephVolume(t, cephStore(t))
	return v
}

// cephStore opens the test cluster's CephFS until the test ends.
func cephStore(t *testing.T) *cephfs.Store {
	t.Helper()
	conf := os.Getenv("TEST_CEPH_CONF")
	if conf == "" {
		t.Fatal("TEST_CEPH_CONF is not set: run the Ceph suite with `make test`, which starts a cluster (scripts/test-ceph.sh)")
	}
	st, err := cephfs.Open(context.Background(), cephfs.Options{Conf: conf, User: "client.stowage", FS: "stowagefs"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newCephVolume makes a 1 MiB volume in st, deleted when the test ends.
func newCephVolume(t *testing.T, st *cephfs.Store) (string, quotaFS) {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := "vol-" + hex.EncodeToString(b)
	if err := st.Create(ctx, id, 1<<20); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Delete(context.Background(), id); err != nil {
			t.Errorf("delete the volume: %v", err)
		}
	})
	v, err := st.Volume(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return id, v
}

// The wire-level permission tests' bodies on CephFS.
func TestCephPermissionChecks(t *testing.T)       { testPermissionChecks(t, cephVolume) }
func TestCephRootAllowedPerExport(t *testing.T)   { testRootAllowedPerExport(t, cephVolume) }
func TestCephQuotaCountsEverything(t *testing.T)  { testQuotaCountsEverything(t, cephVolume, false) }
func TestCephSymlinksAreNotFollowed(t *testing.T) { testSymlinksAreNotFollowed(t, cephVolume) }
func TestCephExportsServeOnlyTheirClients(t *testing.T) {
	testExportsServeOnlyTheirClients(t, cephVolume)
}

// A file handle one node gave out works on another node that never saw
// the file, and still after the file moved to another directory through
// the first node: a client whose node died goes on with its handles.
func TestCephHandlesWorkOnEveryNode(t *testing.T) {
	stA, stB := cephStore(t), cephStore(t)
	id, va := newCephVolume(t, stA)
	vb, err := stB.Volume(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	a := serveOn(t, Options{}, oneExport{}, func(*testing.T) quotaFS { return va })
	b := serveOn(t, Options{}, oneExport{}, func(*testing.T) quotaFS { return vb })
	ca, cb := dialFrom(t, "127.0.0.1", a.addr), dialFrom(t, "127.0.0.1", b.addr)
	wa := (&wire{t: t, c: ca, br: bufio.NewReader(ca)}).as(1000, 1000)
	wb := (&wire{t: t, c: cb, br: bufio.NewReader(cb)}).as(1000, 1000)
	root := wa.mount(a.name)
	st, fh := wa.create(root, "f", sattr{})
	if st != nfsOK {
		t.Fatalf("CREATE on node A: %d", st)
	}
	if st := wa.write(fh, "hello"); st != nfsOK {
		t.Fatalf("WRITE on node A: %d", st)
	}
	if st := wb.read(fh); st != nfsOK {
		t.Fatalf("READ on node B with node A's handle: %d", st)
	}
	st, dir := wa.mkdir(root, "d", sattr{})
	if st != nfsOK {
		t.Fatalf("MKDIR: %d", st)
	}
	r := wa.call(progNFS, procRename, func(m *writer) { m.opaque(root); m.string("f"); m.opaque(dir); m.string("g") })
	if st := r.u32(); st != nfsOK {
		t.Fatalf("RENAME on node A: %d", st)
	}
	if st := wb.write(fh, "world"); st != nfsOK {
		t.Fatalf("WRITE on node B after the file moved: %d", st)
	}
	if got := wb.getattr(fh); got.uid != 1000 {
		t.Fatalf("GETATTR on node B: %+v", got)
	}
}
