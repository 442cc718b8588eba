package blockstore

import (
	"bytes"
	"context"
	"testing"

	"github.com/stowage/stowage/internal/errs"
)

// TestRetriesAndErrors pins the contract the volume service's job runner
// relies on: re-running a step after a crash is harmless, and the errors
// it branches on carry an errs.Kind.
func TestRetriesAndErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := openPool(t, dir, Options{})
	defer func() { p.Close() }()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	kind := func(err error, k errs.Kind) {
		t.Helper()
		if !errs.Is(err, k) {
			t.Fatalf("got %v, want kind %v", err, k)
		}
	}
	must(p.Create(ctx, "a", 1<<20))
	must(p.Create(ctx, "a", 1<<20)) // retry
	kind(p.Create(ctx, "a", 2<<20), errs.Exist)
	kind(p.Create(ctx, "b", 1000), errs.Invalid)
	kind(p.Create(ctx, "b", 0), errs.Invalid)
	kind(p.Create(ctx, "", 4096), errs.Invalid)

	must(p.Snapshot(ctx, "a", "a@1"))
	must(p.Snapshot(ctx, "a", "a@1")) // retry
	kind(p.Clone(ctx, "a", "a@1"), errs.Exist)
	kind(p.Snapshot(ctx, "missing", "x"), errs.NotExist)
	must(p.Clone(ctx, "a@1", "c"))
	must(p.Clone(ctx, "a@1", "c")) // retry
	kind(p.Snapshot(ctx, "a", "c"), errs.Exist)

	must(p.Grow(ctx, "a", 4<<20))
	must(p.Grow(ctx, "a", 4<<20))
	kind(p.Grow(ctx, "a", 1<<20), errs.Invalid)
	kind(p.Grow(ctx, "a@1", 8<<20), errs.Conflict)
	kind(p.Grow(ctx, "missing", 8<<20), errs.NotExist)

	snap, err := p.Volume(ctx, "a@1")
	must(err)
	if !snap.ReadOnly() || snap.Size() != 1<<20 {
		t.Fatalf("snapshot: read-only %v size %d", snap.ReadOnly(), snap.Size())
	}
	kind(snap.WriteAt(ctx, []byte{1}, 0), errs.Permission)
	kind(snap.Trim(ctx, 0, 4096), errs.Permission)
	a, err := p.Volume(ctx, "a")
	must(err)
	kind(a.ReadAt(ctx, make([]byte, 2), 4<<20-1), errs.Invalid)
	kind(a.WriteAt(ctx, make([]byte, 1), -1), errs.Invalid)
	must(a.WriteAt(ctx, []byte("tail"), 4<<20-4)) // the grown range is usable

	must(p.Delete(ctx, "a"))
	must(p.Delete(ctx, "a")) // retry
	kind(a.ReadAt(ctx, make([]byte, 1), 0), errs.NotExist)
	kind(p.Grow(ctx, "a", 8<<20), errs.NotExist)
	_, err = p.Stat(ctx, "a")
	kind(err, errs.NotExist)

	// The snapshot and clone outlive their source, and everything survives
	// a reopen.
	must(p.Close())
	must(p.Close()) // idempotent
	kind(p.Create(ctx, "z", 4096), errs.Unavailable)
	p = openPool(t, dir, Options{ChunkSize: 1 << 20}) // ignored for an existing pool
	if p.ChunkSize() != DefaultChunkSize {
		t.Fatalf("chunk size %d after reopen", p.ChunkSize())
	}
	names, err := p.List(ctx)
	must(err)
	if len(names) != 2 || names[0] != "a@1" || names[1] != "c" {
		t.Fatalf("volumes after reopen: %v", names)
	}
	if _, err := Open(ctx, dir, Options{}); !errs.Is(err, errs.Conflict) {
		t.Fatalf("second Open of a pool in use: %v", err)
	}
	if _, err := Open(ctx, t.TempDir(), Options{ChunkSize: 3000}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("bad chunk size: %v", err)
	}
	checkFsck(t, p)
}

// TestReserve checks that a pool short of free space refuses new chunks
// as errs.NoSpace (which NBD answers as ENOSPC) and goes on serving the
// chunks volumes already own.
func TestReserve(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := openPool(t, dir, Options{})
	if err := p.Create(ctx, "v", 1<<30); err != nil {
		t.Fatal(err)
	}
	v, err := p.Volume(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{1}, int(p.ChunkSize()))
	if err := v.WriteAt(ctx, chunk, 0); err != nil {
		t.Fatal(err)
	}
	if err := v.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	p.Close()

	p = openPool(t, dir, Options{Reserve: 1 << 62})
	defer p.Close()
	if v, err = p.Volume(ctx, "v"); err != nil {
		t.Fatal(err)
	}
	if err := v.WriteAt(ctx, chunk, 1<<20); !errs.Is(err, errs.NoSpace) {
		t.Fatalf("a new chunk past the reserve: %v, want NoSpace", err)
	}
	if err := v.WriteAt(ctx, bytes.Repeat([]byte{2}, 512), 0); err != nil {
		t.Fatalf("rewriting an owned chunk past the reserve: %v", err)
	}
	if err := v.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	checkFsck(t, p)
}

// TestTryReadAt pins the NBD request loop's non-blocking read: where it
// answers, it answers exactly what ReadAt does (holes as zeros), and it
// gives up rather than wait for a lock or report an error.
func TestTryReadAt(t *testing.T) {
	ctx := context.Background()
	p := openPool(t, t.TempDir(), Options{})
	defer func() { p.Close() }()
	v, data := writtenVolume(t, p, 1<<20)
	try := func(n int, off int64) ([]byte, bool) {
		b := bytes.Repeat([]byte{0xff}, n)
		return b, v.TryReadAt(b, off)
	}
	// Just written, so cached: across chunks and into the holes after.
	got, ok := try(300<<10, 10000)
	want := make([]byte, 300<<10)
	copy(want, data[10000:])
	if !ok || !bytes.Equal(got, want) {
		t.Fatalf("cached read across chunks and a hole: ok %v, equal %v", ok, bytes.Equal(got, want))
	}
	if _, ok := try(100, 1<<20-50); ok {
		t.Fatal("a read past the end must be left to ReadAt, which reports it")
	}
	s := &p.stripes[v.stripe(1)]
	s.Lock()
	_, ok = try(100, 64<<10)
	s.Unlock()
	if ok {
		t.Fatal("read while a writer holds the chunk's stripe")
	}
	p.ioMu.Lock()
	_, ok = try(100, 0)
	p.ioMu.Unlock()
	if ok {
		t.Fatal("read while a commit holds the I/O lock")
	}
	if err := p.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := try(100, 0); ok {
		t.Fatal("read of a deleted volume")
	}
}

// writtenVolume creates volume "a" of size bytes in p and writes its first
// 256 KiB (four chunks) with a pattern, which it returns.
func writtenVolume(t *testing.T, p *Pool, size int64) (*Volume, []byte) {
	t.Helper()
	ctx := context.Background()
	if err := p.Create(ctx, "a", size); err != nil {
		t.Fatal(err)
	}
	v, err := p.Volume(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), (256<<10)/16)
	if err := v.WriteAt(ctx, data, 0); err != nil {
		t.Fatal(err)
	}
	return v, data
}
