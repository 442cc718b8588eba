//go:build ceph

package rbd

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/ceph/go-ceph/rbd"

	"github.com/stowage/stowage/internal/errs"
)

// handle is one open librbd image shared by the exports that use it.
type handle struct {
	img  *rbd.Image
	reap *reaper // finishes the image's asynchronous requests
	refs int
}

// Volume is a volume (read-write) or a snapshot (read-only) opened for an
// NBD export. Its methods may be called concurrently: librbd is
// thread-safe, so requests are not serialised here.
type Volume struct {
	s        *Store
	key      string
	img      *rbd.Image
	reap     *reaper // runs the asynchronous calls
	readOnly bool
	once     sync.Once
}

// Volume opens id for I/O; the caller closes it.
func (s *Store) Volume(ctx context.Context, id string) (*Volume, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	image, snap, err := s.locate(id)
	if err != nil {
		return nil, err
	}
	key := image + "@" + snap
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.open[key]
	if h == nil {
		img, err := s.openLocated(image, snap)
		if err != nil {
			return nil, fmt.Errorf("open volume %s: %w", id, err)
		}
		reap, err := startReaper(imageHandle(img))
		if err != nil {
			img.Close()
			return nil, fmt.Errorf("open volume %s: %w", id, err)
		}
		h = &handle{img: img, reap: reap}
		s.open[key] = h
	}
	h.refs++
	return &Volume{s: s, key: key, img: h.img, reap: h.reap, readOnly: snap != ""}, nil
}

// Close releases the volume; the last user closes the librbd image.
func (v *Volume) Close() error {
	var err error
	v.once.Do(func() {
		v.s.mu.Lock()
		defer v.s.mu.Unlock()
		h := v.s.open[v.key]
		if h == nil {
			return
		}
		if h.refs--; h.refs == 0 {
			delete(v.s.open, v.key)
			err = h.reap.close(h.img.Close)
		}
	})
	return err
}

// Size is the image's current size; librbd sees a resize made elsewhere.
func (v *Volume) Size() int64 {
	n, err := v.img.GetSize()
	if err != nil {
		return 0
	}
	return int64(n)
}

// allocWindow bounds the range one Allocated call diffs: the callback
// collects at most a window's objects (256 of RBD's 4 MiB), and a longer
// run is answered in several calls, as the NBD contract allows.
const allocWindow = 1 << 30

// Allocated reports whether the byte at off is in an object that exists
// (in the image or, for a clone, in its parent), and for how many bytes
// from off that stays so. It asks librbd's diff since creation with whole
// objects, which object-map and fast-diff answer from the object map
// without reading data; objects that do not exist read as zeros.
// Whatever librbd cannot answer is reported allocated, which only costs
// the client a copy.
func (v *Volume) Allocated(ctx context.Context, off, n int64) (int64, bool, error) {
	if n <= 0 {
		return 0, false, errs.E(errs.Invalid, "allocation of %s: empty range at %d", v.key, off)
	}
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	size := v.Size()
	if off >= size {
		// Only a deleted volume's image shrinks (to nothing): never diff
		// it, as Pacific's librbd aborts the process on some fast diffs
		// of a shrunk image (see snapExclusive).
		return n, true, nil
	}
	end := min(off+n, size, off+allocWindow)
	type ext struct{ off, end int64 }
	var exts []ext
	err := v.img.DiffIterate(rbd.DiffIterateConfig{Offset: uint64(off), Length: uint64(end - off),
		IncludeParent: rbd.IncludeParent, WholeObject: rbd.EnableWholeObject,
		Callback: func(o, l uint64, exists int, _ interface{}) int {
			if exists != 0 {
				exts = append(exts, ext{max(int64(o), off), min(int64(o+l), end)})
			}
			return 0
		}})
	if err != nil {
		return n, true, nil
	}
	slices.SortFunc(exts, func(a, b ext) int { return cmp.Compare(a.off, b.off) })
	// The run from off: data up to the first gap, or a hole up to the
	// first object that exists.
	at := off
	for _, e := range exts {
		if e.end <= at {
			continue
		}
		if e.off > at {
			break
		}
		at = e.end
	}
	if at > off {
		return at - off, true, nil
	}
	for _, e := range exts {
		if e.off > off {
			return e.off - off, false, nil
		}
	}
	return end - off, false, nil
}

// ReadOnly reports a snapshot.
func (v *Volume) ReadOnly() bool { return v.readOnly }

// ReadAt, WriteAt, Flush and discard go through librbd's asynchronous
// calls: a request in flight parks its goroutine rather than an OS thread
// in C, so many of them cost no more threads than librbd's own.
func (v *Volume) ReadAt(ctx context.Context, b []byte, off int64) error {
	if n := v.reap.wait(opRead, uint64(off), uint64(len(b)), b); n != int64(len(b)) {
		return fmt.Errorf("rbd read %d bytes at %d: %w", len(b), off, aioResult(n))
	}
	return nil
}

// ReadAtAsync is ReadAt, telling to (to.Done(tag, err), then to.Flush)
// when it ends instead of waiting: the NBD server starts a read from its
// request loop and replies from Done. The reaper's goroutine tells it, or
// this one if the read could not start.
func (v *Volume) ReadAtAsync(b []byte, off int64, to completer, tag uint64) {
	v.reap.async(opRead, uint64(off), b, to, tag)
}

// WriteAtAsync is WriteAt as ReadAtAsync is ReadAt.
func (v *Volume) WriteAtAsync(b []byte, off int64, to completer, tag uint64) {
	if v.readOnly {
		to.Done(tag, errs.E(errs.Permission, "snapshot %s is read-only", v.key))
		to.Flush()
		return
	}
	v.reap.async(opWrite, uint64(off), b, to, tag)
}

func (v *Volume) WriteAt(ctx context.Context, b []byte, off int64) error {
	if v.readOnly {
		return errs.E(errs.Permission, "snapshot %s is read-only", v.key)
	}
	if n := v.reap.wait(opWrite, uint64(off), uint64(len(b)), b); n < 0 || (n > 0 && n != int64(len(b))) {
		return fmt.Errorf("rbd write %d bytes at %d: %w", len(b), off, aioResult(n))
	}
	return nil
}

// Flush makes completed writes durable: librbd's cache writes back and
// waits for the OSDs.
func (v *Volume) Flush(ctx context.Context) error {
	if v.readOnly {
		return nil
	}
	if n := v.reap.wait(opFlush, 0, 0, nil); n < 0 {
		return fmt.Errorf("rbd flush: %w", aioResult(n))
	}
	return nil
}

// Trim discards the range; RBD frees whole objects and zeroes the rest.
func (v *Volume) Trim(ctx context.Context, off, length int64) error {
	return v.discard(off, length)
}

// Zero makes the range read as zeros. A discard does that (the store
// turns off rbd_skip_partial_discard); noHole is only a hint in NBD, and
// keeping RBD objects allocated would cost the write of their zeros.
func (v *Volume) Zero(ctx context.Context, off, length int64, noHole bool) error {
	return v.discard(off, length)
}

func (v *Volume) discard(off, length int64) error {
	if v.readOnly {
		return errs.E(errs.Permission, "snapshot %s is read-only", v.key)
	}
	if n := v.reap.wait(opDiscard, uint64(off), uint64(length), nil); n < 0 {
		return fmt.Errorf("rbd discard %d bytes at %d: %w", length, off, aioResult(n))
	}
	return nil
}
