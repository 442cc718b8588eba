//go:build ceph

package rbd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/ceph/go-ceph/rbd"

	"github.com/stowage/stowage/internal/errs"
)

// handle is one open librbd image shared by the exports that use it.
type handle struct {
	img  *rbd.Image
	refs int
}

// Volume is a volume (read-write) or a snapshot (read-only) opened for an
// NBD export. Its methods may be called concurrently: librbd is
// thread-safe, so requests are not serialised here.
type Volume struct {
	s        *Store
	key      string
	img      *rbd.Image
	readOnly bool
	once     sync.Once
}

// Volume opens id for I/O; the caller closes it.
func (s *Store) Volume(ctx context.Context, id string) (*Volume, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	image, snap := id, ""
	held, err := s.snapshotOf(id)
	if err != nil {
		return nil, err
	}
	if held != "" {
		image, snap = held, id
	}
	key := image + "@" + snap
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.open[key]
	if h == nil {
		var img *rbd.Image
		if snap == "" {
			img, err = s.live(image)
		} else {
			img, err = s.openImage(image, snap)
		}
		if err != nil {
			return nil, fmt.Errorf("open volume %s: %w", id, err)
		}
		h = &handle{img: img}
		s.open[key] = h
	}
	h.refs++
	return &Volume{s: s, key: key, img: h.img, readOnly: snap != ""}, nil
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
			err = h.img.Close()
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

// Allocated reports every byte as allocated, which BLOCK_STATUS clients
// read as "copy it all"; answering from the object map is still to come.
func (v *Volume) Allocated(_ context.Context, _, n int64) (int64, bool, error) { return n, true, nil }

// ReadOnly reports a snapshot.
func (v *Volume) ReadOnly() bool { return v.readOnly }

func (v *Volume) ReadAt(ctx context.Context, b []byte, off int64) error {
	n, err := v.img.ReadAt(b, off)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(b)) {
		return fmt.Errorf("rbd read %d bytes at %d: %w", len(b), off, kind(err))
	}
	return nil
}

func (v *Volume) WriteAt(ctx context.Context, b []byte, off int64) error {
	if v.readOnly {
		return errs.E(errs.Permission, "snapshot %s is read-only", v.key)
	}
	n, err := v.img.WriteAt(b, off)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("rbd write %d bytes at %d: %w", len(b), off, kind(err))
	}
	return nil
}

// Flush makes completed writes durable: librbd's cache writes back and
// waits for the OSDs.
func (v *Volume) Flush(ctx context.Context) error {
	if v.readOnly {
		return nil
	}
	return kind(v.img.Flush())
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
	if _, err := v.img.Discard(uint64(off), uint64(length)); err != nil {
		return fmt.Errorf("rbd discard %d bytes at %d: %w", length, off, kind(err))
	}
	return nil
}
