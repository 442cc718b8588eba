package blockstore

import (
	"bytes"
	"context"
	"testing"
)

// TestLargeWriteIsContiguous checks that a write over several unmapped
// chunks maps them to consecutive chunk ids even when it also needs a new
// map page (here: it crosses into a leaf that does not exist yet), so that
// reading the range back takes one pread, and that the data, the zeros
// around it and the refcounts are right.
func TestLargeWriteIsContiguous(t *testing.T) {
	ctx := context.Background()
	p := openPool(t, t.TempDir(), Options{})
	defer p.Close()
	chunk := p.ChunkSize()
	size := int64(2*fanout) * chunk
	if err := p.Create(ctx, "v", size); err != nil {
		t.Fatal(err)
	}
	v, err := p.Volume(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	// Leaf 0 exists; leaf 1 does not. The write covers the last two
	// chunks of leaf 0, starting mid-chunk, and the first two of leaf 1.
	if err := v.WriteAt(ctx, []byte{1}, 0); err != nil {
		t.Fatal(err)
	}
	off := int64(fanout-2)*chunk + 100
	data := bytes.Repeat([]byte("stowage!"), int(4*chunk-200)/8)
	if err := v.WriteAt(ctx, data, off); err != nil {
		t.Fatal(err)
	}
	p.mu.RLock()
	var ids []uint64
	for c := uint64(fanout - 2); c < fanout+2; c++ {
		id, owned := p.lookup(v.v, c)
		if !owned {
			t.Errorf("chunk %d (id %d) not owned after the write", c, id)
		}
		ids = append(ids, id)
	}
	p.mu.RUnlock()
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			t.Fatalf("chunk ids of one write %v are not consecutive", ids)
		}
	}
	want := append(append(make([]byte, 1000), data...), make([]byte, 1000)...)
	got := make([]byte, len(want))
	if err := v.ReadAt(ctx, got, off-1000); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("read back differs from what was written (zeros around it)")
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	checkFsck(t, p)
}
