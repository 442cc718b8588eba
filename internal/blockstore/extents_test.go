package blockstore

import (
	"context"
	"slices"
	"testing"
)

// TestChangedAndAllocated writes, trims and snapshots a volume and checks
// the map diff between snapshots and the allocation runs, including across
// a leaf page boundary (512 chunks) and a missing mid page.
func TestChangedAndAllocated(t *testing.T) {
	ctx := context.Background()
	p := openPool(t, t.TempDir(), Options{})
	defer p.Close()
	const chunk = DefaultChunkSize
	const size = 40 << 30 // three mid pages' worth of chunks (16 GiB each)
	if err := p.Create(ctx, "v", size); err != nil {
		t.Fatal(err)
	}
	v, err := p.Volume(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	write := func(c int64) {
		t.Helper()
		if err := v.WriteAt(ctx, []byte{byte(c) | 1}, c*chunk+7); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []int64{0, 5, 511, 512, 600000} {
		write(c)
	}
	if err := p.Snapshot(ctx, "v", "s1"); err != nil {
		t.Fatal(err)
	}
	write(5)
	write(2000)
	if err := v.Trim(ctx, 0, chunk); err != nil {
		t.Fatal(err)
	}
	if err := p.Snapshot(ctx, "v", "s2"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from, to string
		want     []int64
	}{
		{"", "s1", []int64{0, 5, 511, 512, 600000}},
		{"s1", "s2", []int64{0, 5, 2000}},
		{"s2", "s1", []int64{0, 5, 2000}},
		{"s1", "s1", nil},
		{"s2", "v", nil},
	} {
		got, err := p.Changed(ctx, tc.from, tc.to)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Changed(%q, %q) = %v, %v; want %v", tc.from, tc.to, got, err, tc.want)
		}
	}
	if _, err := p.Changed(ctx, "nope", "s1"); err == nil {
		t.Error("Changed from a missing volume succeeded")
	}

	s1, err := p.Volume(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	type run struct {
		n      int64
		mapped bool
	}
	var got []run
	for off := int64(0); off < size; {
		n, mapped, err := s1.Allocated(ctx, off, size-off)
		if err != nil || n <= 0 {
			t.Fatalf("Allocated(%d): %d %v", off, n, err)
		}
		got = append(got, run{n, mapped})
		off += n
	}
	want := []run{{chunk, true}, {4 * chunk, false}, {chunk, true}, {505 * chunk, false},
		{2 * chunk, true}, {(600000 - 513) * chunk, false}, {chunk, true}, {size - 600001*chunk, false}}
	if !slices.Equal(got, want) {
		t.Fatalf("allocation runs\n got %v\nwant %v", got, want)
	}
	// A query is clipped to its range and may start mid-chunk.
	if n, mapped, err := s1.Allocated(ctx, 100, 10); n != 10 || !mapped || err != nil {
		t.Errorf("Allocated(100, 10) = %d %v %v", n, mapped, err)
	}
	if _, _, err := s1.Allocated(ctx, size-1, 2); err == nil {
		t.Error("Allocated past the end succeeded")
	}
}
