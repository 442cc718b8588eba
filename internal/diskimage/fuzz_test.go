package diskimage_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stowage/stowage/internal/diskimage"
)

// memSource is a small disk in memory with every 64 KiB block allocated
// where it holds a non-zero byte.
type memSource []byte

func (m memSource) Size() int64 { return int64(len(m)) }

func (m memSource) ReadAt(_ context.Context, b []byte, off int64) error {
	copy(b, m[off:])
	return nil
}

func (m memSource) Allocated(_ context.Context, off, n int64) (int64, bool, error) {
	const blk = 64 << 10
	first := !bytes.Equal(m[off&^(blk-1):min(int64(len(m)), off&^(blk-1)+blk)], make([]byte, min(blk, int64(len(m))-off&^(blk-1))))
	end := off
	for end < off+n {
		b := end &^ (blk - 1)
		cur := !bytes.Equal(m[b:min(int64(len(m)), b+blk)], make([]byte, min(blk, int64(len(m))-b)))
		if cur != first {
			break
		}
		end = min(off+n, b+blk)
	}
	return end - off, first, nil
}

// memTarget records writes, checking they stay inside the disk.
type memTarget struct {
	t   *testing.T
	buf []byte
}

func (m *memTarget) WriteAt(_ context.Context, b []byte, off int64) error {
	if off < 0 || off+int64(len(b)) > int64(len(m.buf)) {
		m.t.Fatalf("import wrote %d bytes at %d of a %d-byte disk", len(b), off, len(m.buf))
	}
	copy(m.buf[off:], b)
	return nil
}

func (m *memTarget) Flush(context.Context) error { return nil }

// FuzzImport feeds mutated qcow2 images (seeded with ones this package
// writes) to Probe and Import: whatever the bytes, they fail cleanly or
// write inside the virtual size, and memory stays bounded by what the
// header may claim within its limits.
func FuzzImport(f *testing.F) {
	disk := make(memSource, 3<<20+512)
	copy(disk[70000:], "stowage")
	copy(disk[2<<20:], bytes.Repeat([]byte{7}, 100000))
	var img bytes.Buffer
	if _, err := diskimage.ExportQcow2(context.Background(), disk, &img); err != nil {
		f.Fatal(err)
	}
	f.Add(img.Bytes())
	f.Add(img.Bytes()[:4096])
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		info, err := diskimage.Probe(ctx, bytes.NewReader(b), int64(len(b)), diskimage.Qcow2)
		if err != nil || info.VirtualSize > 64<<20 {
			return // refused, or too big to hold in a test's memory
		}
		tgt := &memTarget{t: t, buf: make([]byte, info.VirtualSize)}
		if _, _, err := diskimage.Import(ctx, bytes.NewReader(b), int64(len(b)), diskimage.Qcow2, tgt); err == nil && bytes.Equal(b, img.Bytes()) {
			if !bytes.Equal(tgt.buf, disk) {
				t.Fatal("the seed image does not import to its disk")
			}
		}
	})
}
