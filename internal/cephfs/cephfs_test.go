//go:build ceph

package cephfs_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/internal/cephfs"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/filestore"
	"github.com/stowage/stowage/internal/testenv"
)

func open(t *testing.T) *cephfs.Store {
	t.Helper()
	st, err := cephfs.Open(context.Background(), testenv.CephFSOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "vol-" + hex.EncodeToString(b)
}

// Deleting a volume removes its whole tree, whatever is in it, and a
// deleted or never-made volume is errs.NotExist; quotas only grow; ids
// that could name anything but a volume's directory are refused.
func TestCephDeleteAndQuotaRules(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	id := newID()
	if err := st.Create(ctx, id, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := st.Create(ctx, id, 1<<20); err != nil {
		t.Fatalf("create again (a retried job): %v", err)
	}
	v, err := st.Volume(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	d, err := v.Mkdir(ctx, v.Root(), "d", 0o755, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := v.Create(ctx, d.Ino, "f", 0o644, filestore.Guarded, [8]byte{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Write(ctx, f.Ino, 0, []byte(strings.Repeat("x", 1000)), true); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Symlink(ctx, d.Ino, "up", "../../..", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Write(ctx, f.Ino, 0, make([]byte, 2<<20), false); errs.KindOf(err) != errs.Quota {
		t.Fatalf("a write beyond the quota: %v, want a quota error", err)
	}
	if err := st.Grow(ctx, id, 1<<10); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("shrinking the quota: %v", err)
	}
	if err := st.Grow(ctx, id, 4<<20); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Write(ctx, f.Ino, 0, make([]byte, 2<<20), true); err != nil {
		t.Fatalf("the same write after growing: %v", err)
	}
	if _, q, err := st.Usage(ctx, id); err != nil || q != 4<<20 {
		t.Fatalf("quota %d (%v) after growing", q, err)
	}

	if err := st.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Usage(ctx, id); errs.KindOf(err) != errs.NotExist {
		t.Fatalf("usage of a deleted volume: %v", err)
	}
	if _, err := st.Volume(ctx, id); errs.KindOf(err) != errs.NotExist {
		t.Fatalf("opening a deleted volume: %v", err)
	}
	if err := st.Delete(ctx, id); err != nil {
		t.Fatalf("deleting again: %v", err)
	}
	for _, bad := range []string{"", ".", "..", ".trash-x", "a/b"} {
		if err := st.Create(ctx, bad, 1<<20); errs.KindOf(err) != errs.Invalid {
			t.Errorf("create %q: %v", bad, err)
		}
	}
}

// Times are set as asked (one kept, the other the client's or the
// server's now), and an exclusive create is recognised when retransmitted
// with its verifier, as on the local store.
func TestCephTimesAndExclusiveCreate(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	id := newID()
	if err := st.Create(ctx, id, 1<<20); err != nil {
		t.Fatal(err)
	}
	defer st.Delete(ctx, id)
	v, err := st.Volume(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	verf := [8]byte{0, 0, 0x10, 0, 0, 0, 0x20, 0}
	f, err := v.Create(ctx, v.Root(), "x", 0o644, filestore.Exclusive, verf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := v.Create(ctx, v.Root(), "x", 0o644, filestore.Exclusive, verf, nil); err != nil || again.Ino != f.Ino {
		t.Fatalf("retransmitted exclusive create: %v (ino %d, want %d)", err, again.Ino, f.Ino)
	}
	if _, err := v.Create(ctx, v.Root(), "x", 0o644, filestore.Exclusive, [8]byte{1}, nil); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("exclusive create with another verifier: %v", err)
	}
	mtime := time.Unix(1_700_000_000, 5000)
	_, after, err := v.SetAttr(ctx, f.Ino, filestore.SetAttr{Mtime: &mtime})
	if err != nil {
		t.Fatal(err)
	}
	if after.Mtim.Sec != mtime.Unix() || after.Atim.Sec != f.Atim.Sec {
		t.Fatalf("times %v/%v after setting mtime to %v (atime was %v)", after.Atim, after.Mtim, mtime, f.Atim)
	}
	now := time.Time{}
	if _, after, err = v.SetAttr(ctx, f.Ino, filestore.SetAttr{Atime: &now}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(time.Unix(after.Atim.Sec, after.Atim.Nsec)); d < 0 || d > time.Minute || after.Mtim.Sec != mtime.Unix() {
		t.Fatalf("times %v/%v after setting atime to now", after.Atim, after.Mtim)
	}
}
