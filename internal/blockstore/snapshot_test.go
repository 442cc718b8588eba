package blockstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// fillEveryChunk maps every chunk of a volume: the map is as full as a
// fully written volume's, while the test writes little data (fsyncing
// gigabytes would measure the disk, not the snapshot).
func fillEveryChunk(t *testing.T, p *Pool, id string, size int64) {
	t.Helper()
	ctx := context.Background()
	v, err := p.Volume(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// NO_HOLE zeroing allocates every chunk (fallocate, no data I/O);
	// then a few real bytes per 32 MiB.
	if err := v.Zero(ctx, 0, size, true); err != nil {
		t.Fatal(err)
	}
	b := bytes.Repeat([]byte{0xa5}, 4096)
	for off := int64(0); off < size; off += 32 << 20 {
		if err := v.WriteAt(ctx, b, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotCloneConstantTime shows that snapshot and clone cost the same
// for a fully mapped 1 GiB and 8 GiB volume: the ratio of their median
// times stays near 1, where a per-chunk copy would make it 8.
func TestSnapshotCloneConstantTime(t *testing.T) {
	ctx := context.Background()
	p := openPool(t, t.TempDir(), Options{})
	defer p.Close()
	fill := func(id string, size int64) {
		if err := p.Create(ctx, id, size); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		fillEveryChunk(t, p, id, size)
		t.Logf("%s: mapped %d chunks in %v", id, size/p.ChunkSize(), time.Since(start))
		st, err := p.Stat(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Allocated != size || st.Exclusive != size {
			t.Fatalf("%s: %+v, want every chunk allocated and exclusive", id, st)
		}
	}
	fill("g1", 1<<30)
	fill("g8", 8<<30)
	// Alternate the two sizes so that background load (the fsyncs of
	// whatever else runs on the machine) hits both alike; compare the
	// fastest of each, the sample least disturbed by it.
	times := map[string][]time.Duration{}
	for i := range 9 {
		for _, id := range []string{"g1", "g8"} {
			s, c := fmt.Sprintf("%s-snap%d", id, i), fmt.Sprintf("%s-clone%d", id, i)
			t0 := time.Now()
			if err := p.Snapshot(ctx, id, s); err != nil {
				t.Fatal(err)
			}
			if err := p.Clone(ctx, s, c); err != nil {
				t.Fatal(err)
			}
			times[id] = append(times[id], time.Since(t0))
		}
	}
	for _, id := range []string{"g1", "g8"} {
		slices.Sort(times[id])
		t.Logf("%s: snapshot+clone min %v, median %v, max %v", id, times[id][0], times[id][4], times[id][8])
		st, err := p.Stat(ctx, id+"-clone0")
		if err != nil {
			t.Fatal(err)
		}
		if st.Allocated != st.Size || st.Exclusive != 0 {
			t.Fatalf("%s clone: %+v, want every chunk allocated and shared", id, st)
		}
	}
	small, large := times["g1"][0], times["g8"][0]
	ratio := float64(large) / float64(small)
	t.Logf("8 GiB / 1 GiB snapshot+clone time ratio: %.2f", ratio)
	if ratio > 4 {
		t.Fatalf("snapshot+clone of 8 GiB took %.1fx as long as of 1 GiB (%v vs %v): not O(1)", ratio, large, small)
	}
	// The clones are real: a write to one leaves the snapshot and the
	// source untouched.
	v, err := p.Volume(ctx, "g8-clone0")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.WriteAt(ctx, []byte("clone"), 7<<30); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]byte{"g8": 0xa5, "g8-snap0": 0xa5, "g8-clone0": 'c'} {
		h, err := p.Volume(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if err := h.ReadAt(ctx, b, 7<<30); err != nil || b[0] != want {
			t.Fatalf("%s at 7 GiB: %q, %v; want %q", id, b, err, want)
		}
	}
	checkFsck(t, p)
}
