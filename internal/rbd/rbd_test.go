//go:build ceph

package rbd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ceph/go-ceph/rbd"

	"github.com/stowage/stowage/internal/errs"
)

const mib = 1 << 20

// testStore opens the pool of the throwaway cluster `make test` starts
// (scripts/test-ceph.sh) as the restricted client.stowage user.
func testStore(t *testing.T) *Store {
	t.Helper()
	conf := os.Getenv("TEST_CEPH_CONF")
	if conf == "" {
		t.Fatal("TEST_CEPH_CONF is not set: run the Ceph suite with `make test`, which starts a cluster (scripts/test-ceph.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, Options{Conf: conf, User: "client.stowage", Pool: "stowage-volumes"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// ids are unique per run: tests share one cluster.
func newID(t *testing.T, what string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return what + "-" + hex.EncodeToString(b)
}

func fill(c byte, n int) []byte { return bytes.Repeat([]byte{c}, n) }

func write(t *testing.T, s *Store, id string, b []byte, off int64) {
	t.Helper()
	v, err := s.Volume(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.WriteAt(context.Background(), b, off); err != nil {
		t.Fatal(err)
	}
	if err := v.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func expect(t *testing.T, s *Store, id string, want []byte, off int64) {
	t.Helper()
	v, err := s.Volume(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	got := make([]byte, len(want))
	if err := v.ReadAt(context.Background(), got, off); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s at %d: got %x…, want %x…", id, off, got[:8], want[:8])
	}
}

func mustNotExist(t *testing.T, err error) {
	t.Helper()
	if !errs.Is(err, errs.NotExist) {
		t.Fatalf("got %v, want not found", err)
	}
}

// TestBackendContract walks a volume through the volume service's life
// cycle on RBD: every step twice (a retried job step), the data checked
// through the NBD-facing Volume, and deletion in the order the service
// allows (the volume before its snapshot, the snapshot before its clone)
// ending with nothing left in the pool or its trash.
func TestBackendContract(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	vol, snap, fromSnap, fromVol := newID(t, "vol"), newID(t, "snap"), newID(t, "clone"), newID(t, "clone")
	a, b, c := fill('a', mib), fill('b', mib), fill('c', 4096)

	for range 2 {
		if err := s.Create(ctx, vol, 8*mib); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Create(ctx, vol, 16*mib); !errs.Is(err, errs.Exist) {
		t.Fatalf("create with another size: %v", err)
	}
	write(t, s, vol, a, 0)
	write(t, s, vol, a, 5*mib)

	for range 2 {
		if err := s.Snapshot(ctx, vol, snap); err != nil {
			t.Fatal(err)
		}
	}
	write(t, s, vol, b, 0)
	expect(t, s, snap, a, 0)
	expect(t, s, vol, b, 0)

	for range 2 {
		if err := s.Clone(ctx, snap, fromSnap); err != nil {
			t.Fatal(err)
		}
		if err := s.Clone(ctx, vol, fromVol); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, s, fromSnap, a, 0)
	expect(t, s, fromSnap, a, 5*mib)
	expect(t, s, fromVol, b, 0)
	write(t, s, fromSnap, c, 4096)
	expect(t, s, fromSnap, c, 4096)
	expect(t, s, vol, b[:4096], 4096)
	expect(t, s, snap, a[:4096], 4096)
	expect(t, s, fromVol, b[:4096], 4096)

	// A snapshot is read-only, and is not a volume to grow.
	sv, err := s.Volume(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	if !sv.ReadOnly() || !errs.Is(sv.WriteAt(ctx, c, 0), errs.Permission) {
		t.Fatal("snapshot export writable")
	}
	sv.Close()
	if err := s.Grow(ctx, snap, 16*mib); !errs.Is(err, errs.Conflict) {
		t.Fatalf("grow snapshot: %v", err)
	}

	// Grow: the new range reads as zeros, shrinking is refused.
	for range 2 {
		if err := s.Grow(ctx, vol, 12*mib); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Grow(ctx, vol, 4*mib); !errs.Is(err, errs.Invalid) {
		t.Fatalf("shrink: %v", err)
	}
	v, err := s.Volume(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	if v.Size() != 12*mib {
		t.Fatalf("size after grow %d", v.Size())
	}
	v.Close()
	expect(t, s, vol, make([]byte, mib), 10*mib)

	// Usage: the volume holds its written objects; what it changed since
	// the snapshot is its own.
	alloc, excl, err := s.Usage(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	if alloc < 2*mib || excl < mib || excl > alloc {
		t.Fatalf("volume usage %d allocated, %d exclusive", alloc, excl)
	}
	if alloc, excl, err = s.Usage(ctx, snap); err != nil || alloc < 2*mib || excl < mib {
		t.Fatalf("snapshot usage %d allocated, %d exclusive, %v", alloc, excl, err)
	}

	// The clone of a volume left no snapshot the service would see.
	img, err := s.openImage(vol, "")
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := userSnaps(img)
	img.Close()
	if err != nil || !slices.Equal(snaps, []string{snap}) {
		t.Fatalf("snapshots of %s: %v, %v", vol, snaps, err)
	}

	// The volume goes first; its snapshot and clones keep their data.
	for range 2 {
		if err := s.Delete(ctx, vol); err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.Volume(ctx, vol)
	mustNotExist(t, err)
	_, _, err = s.Usage(ctx, vol)
	mustNotExist(t, err)
	mustNotExist(t, s.Grow(ctx, vol, 16*mib))
	if err := s.Snapshot(ctx, vol, newID(t, "snap")); !errs.Is(err, errs.NotExist) {
		t.Fatalf("snapshot of a deleted volume: %v", err)
	}
	expect(t, s, snap, a, 0)
	expect(t, s, fromVol, b, 0)
	// A restore of the deleted volume's snapshot is a live volume: the
	// clone does not inherit the marker from its parent's metadata.
	late := newID(t, "clone")
	if err := s.Clone(ctx, snap, late); err != nil {
		t.Fatal(err)
	}
	expect(t, s, late, a, 0)
	if err := s.Grow(ctx, late, 16*mib); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, late); err != nil {
		t.Fatal(err)
	}

	// Then the snapshot; its clone still reads it.
	for range 2 {
		if err := s.Delete(ctx, snap); err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.Volume(ctx, snap)
	mustNotExist(t, err)
	expect(t, s, fromSnap, a, 5*mib)
	expect(t, s, fromSnap, c, 4096)

	// The last clone takes the old image with it.
	for _, id := range []string{fromSnap, fromVol} {
		for range 2 {
			if err := s.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	if names, err := rbd.GetImageNames(s.io); err != nil || slices.ContainsFunc(names, func(n string) bool {
		return n == vol || n == fromSnap || n == fromVol
	}) {
		t.Fatalf("images left: %v, %v", names, err)
	}
	trash, err := rbd.GetTrashList(s.io)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range trash {
		if e.Name == vol {
			t.Fatalf("%s left in the RBD trash", vol)
		}
	}
}

// TestRetryFindsACrashedAttempt replays the states a crash leaves between
// the steps of Snapshot and Clone: an index entry without its snapshot,
// and a clone whose transient parent snapshot was not yet removed.
func TestRetryFindsACrashedAttempt(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	vol, snap, clone := newID(t, "vol"), newID(t, "snap"), newID(t, "clone")
	if err := s.Create(ctx, vol, 4*mib); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, id := range []string{clone, snap, vol} {
			s.Delete(ctx, id)
		}
	})
	write(t, s, vol, fill('x', mib), 0)

	// Crash after recording the snapshot, before making it.
	if err := s.io.SetOmap(indexObject, map[string][]byte{snap: []byte(vol)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Volume(ctx, snap); err == nil {
		t.Fatal("a snapshot that was never made opens")
	}
	if err := s.Snapshot(ctx, vol, snap); err != nil {
		t.Fatal(err)
	}
	expect(t, s, snap, fill('x', mib), 0)

	// Crash after cloning a volume, before dropping the transient snapshot.
	img, err := s.live(vol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.CreateSnapshot(cloneSnapPrefix + clone); err != nil {
		t.Fatal(err)
	}
	img.Close()
	opts := imageOptions(true)
	defer opts.Destroy()
	if err := rbd.CloneImage(s.io, vol, cloneSnapPrefix+clone, s.io, clone, opts); err != nil {
		t.Fatal(err)
	}
	if err := s.Clone(ctx, vol, clone); err != nil {
		t.Fatal(err)
	}
	img, err = s.openImage(vol, "")
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	all, err := img.GetSnapshotNames()
	if err != nil {
		t.Fatal(err)
	}
	for _, sn := range all {
		ns, err := img.GetSnapNamespaceType(sn.Id)
		if err != nil {
			t.Fatal(err)
		}
		if ns == rbd.SnapNamespaceTypeUser && sn.Name != snap {
			t.Fatalf("snapshot %s left in the user namespace", sn.Name)
		}
	}
	expect(t, s, clone, fill('x', mib), 0)
}

// TestExportZeroAndTrim: WRITE_ZEROES reads back as zeros even inside an
// object (RBD would otherwise skip partial discards), and writes from
// many goroutines at once land.
func TestExportZeroAndTrim(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	vol := newID(t, "vol")
	if err := s.Create(ctx, vol, 8*mib); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Delete(ctx, vol) })
	v, err := s.Volume(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	errc := make(chan error, 32)
	for i := range 32 {
		go func() { errc <- v.WriteAt(ctx, fill(byte(i+1), 64<<10), int64(i)*64<<10) }()
	}
	for range 32 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Zero(ctx, 1000, 5000, false); err != nil {
		t.Fatal(err)
	}
	if err := v.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 7000)
	if err := v.ReadAt(ctx, got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[1000:6000], make([]byte, 5000)) {
		t.Fatal("zeroed range does not read as zeros")
	}
	if !bytes.Equal(got[:1000], fill(1, 1000)) || !bytes.Equal(got[6000:7000], fill(1, 1000)) {
		t.Fatal("bytes around the zeroed range changed")
	}
	expect(t, s, vol, fill(2, 4096), 64<<10)
	if err := v.Trim(ctx, 0, 8*mib); err != nil {
		t.Fatal(err)
	}
	expect(t, s, vol, make([]byte, mib), 0)
}

// TestDeepChainIsFlattened: restoring the restore of a restore … would
// make every read walk a longer chain; past maxDepth the new clone is
// flattened and keeps its bytes, and the intermediate images can all be
// deleted.
func TestDeepChainIsFlattened(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	ids := []string{newID(t, "vol")}
	if err := s.Create(ctx, ids[0], 4*mib); err != nil {
		t.Fatal(err)
	}
	write(t, s, ids[0], fill('0', 4096), 0)
	depthOf := func(id string) int {
		img, err := s.openImage(id, "")
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		p, err := img.GetMetadata(parentKey)
		if errno(err) == 2 {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.depth(p)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for i := 1; i <= maxDepth+2; i++ {
		snap, clone := newID(t, "snap"), newID(t, "clone")
		if err := s.Snapshot(ctx, ids[len(ids)-1], snap); err != nil {
			t.Fatal(err)
		}
		if err := s.Clone(ctx, snap, clone); err != nil {
			t.Fatal(err)
		}
		write(t, s, clone, fill(byte('0'+i), 4096), int64(i)*4096)
		ids = append(ids, snap, clone)
		if err := s.Flatten(ctx, clone); err != nil {
			t.Fatal(err)
		}
		if d := depthOf(clone); d > maxDepth {
			t.Fatalf("clone %d has a chain of %d parents", i, d)
		}
	}
	last := ids[len(ids)-1]
	for i := 0; i <= maxDepth+2; i++ {
		expect(t, s, last, fill(byte('0'+i), 4096), int64(i)*4096)
	}
	for _, id := range ids {
		if err := s.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	trash, err := rbd.GetTrashList(s.io)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range trash {
		if slices.Contains(ids, e.Name) {
			t.Fatalf("%s (%d of %v) left in the RBD trash", e.Name, slices.Index(ids, e.Name), ids)
		}
	}
}

// TestExportAllocated: an export reports as allocated exactly the 4 MiB
// objects that exist, in the volume, in a snapshot, and in a clone, whose
// parent's objects count as its own; a trimmed object is a hole again.
func TestExportAllocated(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	vol, snap, clone := newID(t, "vol"), newID(t, "snap"), newID(t, "clone")
	if err := s.Create(ctx, vol, 16*mib); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Delete(ctx, vol) })
	write(t, s, vol, fill('a', 4096), 5*mib)
	write(t, s, vol, fill('b', 4096), 13*mib)
	if err := s.Snapshot(ctx, vol, snap); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Delete(ctx, snap) })
	if err := s.Clone(ctx, snap, clone); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Delete(ctx, clone) })
	write(t, s, vol, fill('c', 4096), 9*mib)
	write(t, s, clone, fill('d', 4096), 0)
	v, err := s.Volume(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Trim(ctx, 12*mib, 4*mib); err != nil {
		t.Fatal(err)
	}

	type run struct {
		n    int64
		data bool
	}
	runs := func(id string, off, end int64) []run {
		t.Helper()
		v, err := s.Volume(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		var got []run
		for off < end {
			n, data, err := v.Allocated(ctx, off, end-off)
			if err != nil || n <= 0 || n > end-off {
				t.Fatalf("%s: Allocated(%d, %d) = %d, %v, %v", id, off, end-off, n, data, err)
			}
			if k := len(got); k > 0 && got[k-1].data == data {
				got[k-1].n += n
			} else {
				got = append(got, run{n, data})
			}
			off += n
		}
		return got
	}
	for _, c := range []struct {
		id       string
		off, end int64
		want     []run
	}{
		{vol, 0, 16 * mib, []run{{4 * mib, false}, {8 * mib, true}, {4 * mib, false}}},
		{snap, 0, 16 * mib, []run{{4 * mib, false}, {4 * mib, true}, {4 * mib, false}, {4 * mib, true}}},
		{clone, 0, 16 * mib, []run{{8 * mib, true}, {4 * mib, false}, {4 * mib, true}}},
		// A range inside objects is clipped to the request.
		{snap, 5*mib + 7, 6 * mib, []run{{mib - 7, true}}},
		{snap, 3 * mib, 9 * mib, []run{{mib, false}, {4 * mib, true}, {mib, false}}},
	} {
		if got := runs(c.id, c.off, c.end); !slices.Equal(got, c.want) {
			t.Errorf("%s [%d, %d): runs %v, want %v", c.id[:4], c.off, c.end, got, c.want)
		}
	}
	// Deleting the volume while its export is open shrinks the image to
	// nothing (its snapshot lives on): the export then answers
	// "allocated", never an error or a hole over bytes it cannot see.
	if err := s.Delete(ctx, vol); err != nil {
		t.Fatal(err)
	}
	if n, data, err := v.Allocated(ctx, 0, 16*mib); err != nil || n != 16*mib || !data {
		t.Errorf("Allocated on a deleted volume: %d, %v, %v", n, data, err)
	}
}

// TestChangedAndList: the diff between two snapshots names the objects
// written and the objects discarded between them, the diff from nothing
// every object holding data (a clone's parent's too), and List finds
// snapshots and volumes by prefix.
func TestChangedAndList(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	vol := newID(t, "vol")
	a, b, clone, cs := vol+".a", vol+".b", newID(t, "clone"), newID(t, "cs")
	if err := s.Create(ctx, vol, 20*mib); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Delete(ctx, vol) })
	write(t, s, vol, fill('a', 4096), 0)
	write(t, s, vol, fill('a', 4096), 9*mib)
	if err := s.Snapshot(ctx, vol, a); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Delete(ctx, a) })
	write(t, s, vol, fill('b', 4096), 10*mib)
	write(t, s, vol, fill('b', 4096), 13*mib)
	v, err := s.Volume(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Trim(ctx, 0, 4*mib); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if err := s.Snapshot(ctx, vol, b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Delete(ctx, b) })
	if err := s.Clone(ctx, a, clone); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Delete(ctx, clone) })
	write(t, s, clone, fill('c', 4096), 17*mib)
	if err := s.Snapshot(ctx, clone, cs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Delete(ctx, cs) })

	for _, c := range []struct {
		from, to string
		want     []int64
	}{
		{"", a, []int64{0, 2}},
		{"", b, []int64{2, 3}},
		{a, b, []int64{0, 2, 3}},
		{b, vol, []int64{}},
		{"", cs, []int64{0, 2, 4}},
	} {
		got, err := s.Changed(ctx, c.from, c.to)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Changed(%q, %q) = %v, %v; want %v", c.from, c.to, got, err, c.want)
		}
	}
	if _, err := s.Changed(ctx, a, cs); !errs.Is(err, errs.Invalid) {
		t.Errorf("Changed across images: %v", err)
	}
	if got, err := s.List(ctx, vol); err != nil || !slices.Equal(got, []string{vol, a, b}) {
		t.Errorf("List(%s) = %v, %v", vol, got, err)
	}
	if got, err := s.List(ctx, vol+"."); err != nil || !slices.Equal(got, []string{a, b}) {
		t.Errorf("List(%s.) = %v, %v", vol, got, err)
	}
}
