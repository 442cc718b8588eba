package blockstore

import (
	"bytes"
	"context"
	"testing"

	"golang.org/x/sys/unix"
)

// TestViewAt: the views of cached data are the volume's bytes (holes as
// zeros, a snapshot's own), the chunks stay locked against writers while
// send runs, and every case ViewAt cannot serve without waiting leaves the
// read to ReadAt without calling send.
func TestViewAt(t *testing.T) {
	ctx := context.Background()
	p := openPool(t, t.TempDir(), Options{})
	defer func() { p.Close() }()
	v, data := writtenVolume(t, p, 4<<20)
	view := func(h *Volume, off int64, n int) ([]byte, bool) {
		var got []byte
		calls := 0
		ok := h.ViewAt(off, n, func(views [][]byte) {
			calls++
			// Locked against writers while the views are in use.
			if s := &p.stripes[h.stripe(uint64(off>>p.shift))]; s.TryLock() {
				s.Unlock()
				t.Error("a writer could take the stripe of a chunk in view")
			}
			for _, b := range views {
				got = append(got, b...)
			}
		})
		if calls != map[bool]int{true: 1, false: 0}[ok] {
			t.Fatalf("ViewAt returned %v after calling send %d times", ok, calls)
		}
		return got, ok
	}

	// Just written, so cached: across chunks and into the holes after.
	got, ok := view(v, 10000, 300<<10)
	want := make([]byte, 300<<10)
	copy(want, data[10000:])
	if !ok || !bytes.Equal(got, want) {
		t.Fatalf("view across chunks and a hole: ok %v, equal %v", ok, bytes.Equal(got, want))
	}
	// A snapshot's view keeps the data it was taken with.
	if err := p.Snapshot(ctx, "a", "a@1"); err != nil {
		t.Fatal(err)
	}
	if err := v.WriteAt(ctx, bytes.Repeat([]byte{'x'}, 64<<10), 0); err != nil {
		t.Fatal(err)
	}
	snap, err := p.Volume(ctx, "a@1")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := view(snap, 0, 128<<10); !ok || !bytes.Equal(got, data[:128<<10]) {
		t.Fatalf("snapshot view: ok %v, equal %v", ok, bytes.Equal(got, data[:128<<10]))
	}
	if got, ok := view(v, 0, 128<<10); !ok || !bytes.Equal(got[:64<<10], bytes.Repeat([]byte{'x'}, 64<<10)) ||
		!bytes.Equal(got[64<<10:], data[64<<10:128<<10]) {
		t.Fatalf("view after the overwrite: ok %v", ok)
	}

	for _, c := range []struct {
		name string
		off  int64
		n    int
	}{{"past the end", 4<<20 - 50, 100}, {"empty", 0, 0}, {"over maxView", 0, maxView + 1}, {"negative offset", -1, 10}} {
		if _, ok := view(v, c.off, c.n); ok {
			t.Errorf("%s: ViewAt served it", c.name)
		}
	}
	s := &p.stripes[v.stripe(1)]
	s.Lock()
	_, ok = view(v, 64<<10, 100)
	s.Unlock()
	if ok {
		t.Fatal("view while a writer holds the chunk's stripe")
	}
	p.ioMu.Lock()
	_, ok = view(v, 0, 100)
	p.ioMu.Unlock()
	if ok {
		t.Fatal("view while a commit holds the I/O lock")
	}

	// Data that is not in the page cache would make the request loop wait
	// for the disk: a region never viewed (so never mapped), written,
	// flushed and dropped from the cache.
	if err := v.WriteAt(ctx, bytes.Repeat([]byte{'d'}, 256<<10), 2<<20); err != nil {
		t.Fatal(err)
	}
	if err := v.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(p.data.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if _, ok := view(v, 2<<20, 256<<10); ok {
		t.Fatal("view of data dropped from the page cache")
	}
	b := make([]byte, 256<<10)
	if err := v.ReadAt(ctx, b, 2<<20); err != nil || !bytes.Equal(b, bytes.Repeat([]byte{'d'}, 256<<10)) {
		t.Fatalf("ReadAt after the view declined: %v", err)
	}
	if got, ok := view(v, 2<<20, 256<<10); !ok || !bytes.Equal(got, b) {
		t.Fatalf("view once ReadAt cached it again: ok %v", ok)
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := view(v, 0, 100); ok {
		t.Fatal("view of a closed pool")
	}
}
