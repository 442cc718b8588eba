package diskspace

import (
	"math"
	"testing"

	"github.com/stowage/stowage/internal/errs"
)

func TestReserve(t *testing.T) {
	dir := t.TempDir()
	if err := New(dir, 0).Check(math.MaxInt64 / 2); err != nil {
		t.Fatalf("a zero reserve refused: %v", err)
	}
	if err := New(dir, 1).Check(0); err != nil {
		t.Fatalf("a one-byte reserve refused on a disk with room: %v", err)
	}
	if err := New(dir, 1).Check(math.MaxInt64 / 2); !errs.Is(err, errs.NoSpace) {
		t.Fatalf("writing more than the disk holds: %v, want NoSpace", err)
	}
	if err := New(dir, math.MaxInt64/2).Check(0); !errs.Is(err, errs.NoSpace) {
		t.Fatalf("a reserve larger than the disk: %v, want NoSpace", err)
	}
}

func TestOf(t *testing.T) {
	capacity, free, err := Of(t.TempDir())
	if err != nil || capacity <= 0 || free < 0 || free > capacity {
		t.Fatalf("Of: capacity %d, free %d, %v", capacity, free, err)
	}
	if _, _, err := Of("/no/such/dir"); err == nil {
		t.Fatal("Of a missing directory succeeded")
	}
}
