package blockstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/internal/errs"
)

// Volume is an I/O handle on one volume, snapshot or clone. Its methods are
// safe for concurrent use and have the shape an NBD export needs. A handle
// outlives nothing: after Delete every call fails with errs.NotExist.
type Volume struct {
	p *Pool
	v *volRec
}

// Volume returns an I/O handle for id.
func (p *Pool) Volume(ctx context.Context, id string) (*Volume, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if err := p.checkOpen(); err != nil {
		return nil, fmt.Errorf("open volume %s: %w", id, err)
	}
	v, ok := p.st.vols[id]
	if !ok {
		return nil, fmt.Errorf("open volume %s: %w", id, errs.E(errs.NotExist, "volume %s not found", id))
	}
	return &Volume{p: p, v: v}, nil
}

// ID returns the volume's id.
func (h *Volume) ID() string { return h.v.name }

// Size returns the volume's current size in bytes.
func (h *Volume) Size() int64 { return h.v.size.Load() }

// LocalReads tells the NBD server that reads come from a local file,
// mostly its page cache, so that it may serve a sequential stream inline.
func (h *Volume) LocalReads() bool { return true }

// ReadOnly reports whether the volume is a snapshot.
func (h *Volume) ReadOnly() bool { return h.v.readOnly }

func (h *Volume) stripe(c uint64) int {
	x := (h.v.num<<40 ^ c) * 0x9E3779B97F4A7C15
	return int(x >> 54) // top 10 bits: stripeCount = 1024
}

// begin takes the shared I/O lock and validates the range. The caller must
// call h.p.ioMu.RUnlock when done.
func (h *Volume) begin(ctx context.Context, op string, off, n int64, write bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.p.ioMu.RLock()
	if err := h.check(op, off, n, write); err != nil {
		h.p.ioMu.RUnlock()
		return err
	}
	return nil
}

// check validates an I/O of n bytes at off; the caller holds ioMu shared.
func (h *Volume) check(op string, off, n int64, write bool) error {
	if err := h.p.checkFailed(); err != nil {
		return err
	}
	if h.v.deleted.Load() {
		return errs.E(errs.NotExist, "volume %s not found", h.v.name)
	}
	if h.p.closed {
		return errs.E(errs.Unavailable, "pool is closed")
	}
	if write && h.v.readOnly {
		return errs.E(errs.Permission, "volume %s is a read-only snapshot", h.v.name)
	}
	if off < 0 || n < 0 || off+n > h.v.size.Load() || off+n < off {
		return errs.E(errs.Invalid, "%s at %d+%d is outside volume %s of %d bytes", op, off, n, h.v.name, h.v.size.Load())
	}
	return nil
}

// ReadAt fills b from off. Unmapped ranges read as zeros.
func (h *Volume) ReadAt(ctx context.Context, b []byte, off int64) error {
	if err := h.begin(ctx, "read", off, int64(len(b)), false); err != nil {
		return fmt.Errorf("read volume %s: %w", h.v.name, err)
	}
	defer h.p.ioMu.RUnlock()
	if _, err := h.read(b, off, false); err != nil {
		return fmt.Errorf("read volume %s at %d: %w", h.v.name, off, err)
	}
	return nil
}

// TryReadAt is ReadAt for a caller that must not wait: it fills b from off
// and returns true only if it could without waiting for a lock or for the
// disk, the data being in the page cache. Otherwise (and on any error) it
// returns false, with b's contents undefined, and the caller uses ReadAt.
// This lets the NBD request loop answer cached reads itself instead of
// handing each to a goroutine.
func (h *Volume) TryReadAt(b []byte, off int64) bool {
	if !h.p.ioMu.TryRLock() {
		return false
	}
	defer h.p.ioMu.RUnlock()
	if h.check("read", off, int64(len(b)), false) != nil {
		return false
	}
	ok, err := h.read(b, off, true)
	return ok && err == nil
}

// read fills b from off; the caller holds ioMu shared and checked the
// range. With nowait it gives up (false) rather than wait for a lock or
// for data not in the page cache.
func (h *Volume) read(b []byte, off int64, nowait bool) (bool, error) {
	if len(b) == 0 {
		return true, nil
	}
	p := h.p
	return h.holding(off, int64(len(b)), nowait, func(ids []uint64) (bool, error) {
		// One pread per run of physically contiguous chunks.
		in := off & (p.chunk - 1)
		for i := 0; i < len(ids); {
			j := runEnd(ids, i)
			l := min(int64(len(b)), int64(j-i)*p.chunk-in)
			switch {
			case ids[i] == 0:
				clear(b[:l])
			case nowait:
				if !p.readCached(b[:l], int64(ids[i])<<p.shift+in) {
					return false, nil
				}
			default:
				if err := p.readData(b[:l], int64(ids[i])<<p.shift+in); err != nil {
					return false, err
				}
			}
			b, in, i = b[l:], 0, j
		}
		return true, nil
	})
}

// holding calls use with the ids of the chunks of [off, off+n) (0 for
// unmapped) while holding their stripes shared: nothing writes those
// chunks or reuses their space until use returns. The caller holds ioMu
// shared. With nowait it returns false, not calling use, rather than wait
// for a lock.
func (h *Volume) holding(off, n int64, nowait bool, use func(ids []uint64) (bool, error)) (bool, error) {
	p := h.p
	first := uint64(off >> p.shift)
	last := uint64((off + n - 1) >> p.shift)
	count := int(last - first + 1)

	// Hold the stripes of every chunk in the range, taken in ascending
	// order: writers hold one stripe at a time, so ordered readers cannot
	// deadlock with them or with each other.
	var stripeBuf [16]int
	stripes := stripeBuf[:0]
	for c := first; c <= last; c++ {
		stripes = append(stripes, h.stripe(c))
	}
	if count > 1 {
		slices.Sort(stripes)
		stripes = slices.Compact(stripes)
	}
	held := 0
	defer func() {
		for _, i := range stripes[:held] {
			p.stripes[i].RUnlock()
		}
	}()
	for _, i := range stripes {
		if nowait {
			if !p.stripes[i].TryRLock() {
				return false, nil
			}
		} else {
			p.stripes[i].RLock()
		}
		held++
	}
	var idBuf [16]uint64
	ids := idBuf[:0]
	if nowait {
		if !p.mu.TryRLock() {
			return false, nil
		}
	} else {
		p.mu.RLock()
	}
	for c := first; c <= last; c++ {
		ids = append(ids, p.mapped(h.v, c))
	}
	p.mu.RUnlock()
	return use(ids)
}

// runEnd is where the run of chunks that starts at ids[i] ends: unmapped
// chunks, or mapped ones that are physically contiguous.
func runEnd(ids []uint64, i int) int {
	j := i + 1
	for j < len(ids) && (ids[i] == 0) == (ids[j] == 0) && (ids[i] == 0 || ids[j] == ids[j-1]+1) {
		j++
	}
	return j
}

// WriteAt writes b at off. The data is durable after the next Flush of any
// volume in the pool.
func (h *Volume) WriteAt(ctx context.Context, b []byte, off int64) (err error) {
	defer func() { err = noSpace(err) }()
	if err := h.begin(ctx, "write", off, int64(len(b)), true); err != nil {
		return fmt.Errorf("write volume %s: %w", h.v.name, err)
	}
	defer h.p.ioMu.RUnlock()
	if len(b) == 0 {
		return nil
	}
	p := h.p
	first := uint64(off >> p.shift)
	last := uint64((off + int64(len(b)) - 1) >> p.shift)
	if first == last {
		if err := h.writeChunk(first, off&(p.chunk-1), b); err != nil {
			return fmt.Errorf("write volume %s at %d: %w", h.v.name, off, err)
		}
		return nil
	}
	// Several chunks: hold all their stripes (ascending, like ReadAt) and
	// write each run of owned, physically contiguous chunks with one
	// pwrite; the rest take the per-chunk path.
	stripes := h.lockStripes(first, last)
	defer h.unlockStripes(stripes)
	n := int(last - first + 1)
	var idBuf [16]uint64
	ids := idBuf[:0]
	unmapped := false
	p.mu.RLock()
	for c := first; c <= last; c++ {
		id, owned := p.lookup(h.v, c)
		unmapped = unmapped || id == 0
		if !owned {
			id = 0
		}
		ids = append(ids, id)
	}
	p.mu.RUnlock()
	if unmapped {
		if err := h.mapFresh(first, ids); err != nil {
			return fmt.Errorf("write volume %s at %d: %w", h.v.name, off, err)
		}
	}
	in := off & (p.chunk - 1)
	for i := 0; i < n; {
		if ids[i] == 0 {
			l := min(int64(len(b)), p.chunk-in)
			if err := h.writeChunkLocked(first+uint64(i), in, b[:l]); err != nil {
				return fmt.Errorf("write volume %s at %d: %w", h.v.name, off, err)
			}
			b, off, in, i = b[l:], off+l, 0, i+1
			continue
		}
		j := i + 1
		for j < n && ids[j] != 0 && ids[j] == ids[j-1]+1 {
			j++
		}
		l := min(int64(len(b)), int64(j-i)*p.chunk-in)
		if _, err := p.data.WriteAt(b[:l], int64(ids[i])<<p.shift+in); err != nil {
			return fmt.Errorf("write volume %s at %d: %w", h.v.name, off, err)
		}
		b, off, in, i = b[l:], off+l, 0, j
	}
	return nil
}

// mapFresh maps a new chunk at every unmapped chunk of the range starting
// at volume chunk first, in one critical section and after any map page
// the range needs, so that the chunks of one large write get consecutive
// ids even while other writers allocate: this write, and every later read
// of the range, then takes one pwrite or pread instead of one per chunk.
// A fresh id is a hole, so it reads as zeros, like the unmapped chunk it
// replaces, until the caller writes it. ids[i] becomes the id mapped at
// chunk first+i. The caller holds the stripes of the range.
func (h *Volume) mapFresh(first uint64, ids []uint64) error {
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	leaves := make([]*page, len(ids))
	for i := range ids {
		c := first + uint64(i)
		if id, _ := p.lookup(h.v, c); id != 0 {
			continue
		}
		if i > 0 && leaves[i-1] != nil && c&(fanout-1) != 0 {
			leaves[i] = leaves[i-1]
			continue
		}
		leaf, err := p.leafForWrite(h.v, c, true)
		if err != nil {
			return err
		}
		leaves[i] = leaf
	}
	for i, leaf := range leaves {
		if leaf == nil {
			continue
		}
		nid, err := p.alloc()
		if err != nil {
			return err
		}
		p.setRef(nid, 1)
		_, _, li := split(first + uint64(i))
		leaf[li] = nid
		ids[i] = nid
	}
	return nil
}

// lockStripes write-locks the stripes of chunks first..last in ascending
// order and returns them for unlockStripes.
func (h *Volume) lockStripes(first, last uint64) []int {
	stripes := make([]int, 0, last-first+1)
	for c := first; c <= last; c++ {
		stripes = append(stripes, h.stripe(c))
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, i := range stripes {
		h.p.stripes[i].Lock()
	}
	return stripes
}

func (h *Volume) unlockStripes(stripes []int) {
	for _, i := range stripes {
		h.p.stripes[i].Unlock()
	}
}

// writeChunk writes b at offset in within volume chunk c.
func (h *Volume) writeChunk(c uint64, in int64, b []byte) error {
	s := &h.p.stripes[h.stripe(c)]
	s.Lock()
	defer s.Unlock()
	return h.writeChunkLocked(c, in, b)
}

// writeChunkLocked is writeChunk for a caller that holds c's stripe.
func (h *Volume) writeChunkLocked(c uint64, in int64, b []byte) error {
	p := h.p
	// Fast path: the volume owns the chunk, so no metadata changes.
	p.mu.RLock()
	id, excl := p.lookup(h.v, c)
	p.mu.RUnlock()
	if id != 0 && excl {
		_, err := p.data.WriteAt(b, int64(id)<<p.shift+in)
		return err
	}

	// Slow path: allocate, or break sharing. The stripe lock keeps every
	// other I/O on this chunk out until the new chunk holds its data; the
	// shared ioMu keeps a commit from releasing the old chunk for reuse
	// while it is being copied.
	p.mu.Lock()
	leaf, err := p.leafForWrite(h.v, c, true)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	_, _, li := split(c)
	old := leaf[li] & idMask
	if old != 0 && p.owned(old) {
		p.mu.Unlock() // the path copy made it ours
		_, err := p.data.WriteAt(b, int64(old)<<p.shift+in)
		return err
	}
	nid, err := p.alloc()
	if err != nil {
		p.mu.Unlock()
		return err
	}
	p.setRef(nid, 1)
	leaf[li] = nid
	if old != 0 {
		// If this frees old, the commit that reuses it waits for our
		// shared ioMu, so the copy below still reads intact data.
		p.decChunk(old)
	}
	p.mu.Unlock()

	dst := int64(nid) << p.shift
	if old != 0 && int64(len(b)) < p.chunk {
		if err := p.copyChunk(int64(old)<<p.shift, dst); err != nil {
			return err
		}
	}
	_, err = p.data.WriteAt(b, dst+in)
	return err
}

// copyChunk copies one chunk within the data file, in the kernel where it
// can (and sharing extents on filesystems that reflink).
func (p *Pool) copyChunk(src, dst int64) error {
	fd := int(p.data.Fd())
	rem := p.chunk
	for rem > 0 {
		n, err := unix.CopyFileRange(fd, &src, fd, &dst, int(rem), 0)
		if err == syscall.EXDEV || err == syscall.ENOSYS || err == syscall.EOPNOTSUPP || (err == nil && n == 0) {
			break
		}
		if err != nil {
			return fmt.Errorf("copy chunk: %w", err)
		}
		rem -= int64(n)
	}
	if rem > 0 {
		buf := make([]byte, rem)
		if err := p.readData(buf, src); err != nil {
			return fmt.Errorf("copy chunk: %w", err)
		}
		if _, err := p.data.WriteAt(buf, dst); err != nil {
			return fmt.Errorf("copy chunk: %w", err)
		}
	}
	return nil
}

// Flush makes all completed writes in the pool durable.
func (h *Volume) Flush(ctx context.Context) error {
	if err := h.p.Flush(ctx); err != nil {
		return fmt.Errorf("volume %s: %w", h.v.name, err)
	}
	return nil
}

// Trim tells the pool the range's contents are no longer needed. Whole
// chunks are unmapped (and freed when no other volume uses them); partial
// chunks the volume owns are punched so they read as zeros; partial chunks
// it shares are left alone, which the NBD contract allows. After Trim the
// range reads as zeros except where it was shared.
func (h *Volume) Trim(ctx context.Context, off, n int64) (err error) {
	defer func() { err = noSpace(err) }()
	if err := h.begin(ctx, "trim", off, n, true); err != nil {
		return fmt.Errorf("trim volume %s: %w", h.v.name, err)
	}
	defer h.p.ioMu.RUnlock()
	if err := h.discard(off, n, false, false); err != nil {
		return fmt.Errorf("trim volume %s at %d: %w", h.v.name, off, err)
	}
	return nil
}

// Zero makes the range read as zeros. Without noHole whole chunks are
// unmapped; with it they stay (or become) allocated, so later writes do not
// need to allocate.
func (h *Volume) Zero(ctx context.Context, off, n int64, noHole bool) (err error) {
	defer func() { err = noSpace(err) }()
	if err := h.begin(ctx, "zero", off, n, true); err != nil {
		return fmt.Errorf("zero volume %s: %w", h.v.name, err)
	}
	defer h.p.ioMu.RUnlock()
	if err := h.discard(off, n, true, noHole); err != nil {
		return fmt.Errorf("zero volume %s at %d: %w", h.v.name, off, err)
	}
	return nil
}

// noSpace marks a full file system (ENOSPC, or EDQUOT from a file system
// quota) as errs.NoSpace, so that the NBD server answers ENOSPC and the
// API 507 rather than an I/O error: the pool is intact, only full.
func noSpace(err error) error {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return errs.Wrap(errs.NoSpace, "the volume pool's file system is full", err)
	}
	return err
}

// discard implements Trim (zero false) and Zero.
func (h *Volume) discard(off, n int64, zero, keep bool) error {
	p := h.p
	for n > 0 {
		c := uint64(off >> p.shift)
		in := off & (p.chunk - 1)
		l := min(n, p.chunk-in)
		var err error
		switch {
		case l == p.chunk && keep:
			err = h.allocZero(c)
		case l == p.chunk:
			err = h.unmap(c)
		default:
			err = h.zeroPartial(c, in, l, zero)
		}
		if err != nil {
			return err
		}
		off, n = off+l, n-l
	}
	return nil
}

func (h *Volume) unmap(c uint64) error {
	p := h.p
	s := &p.stripes[h.stripe(c)]
	s.Lock()
	defer s.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if id, _ := p.lookup(h.v, c); id == 0 {
		return nil
	}
	leaf, err := p.leafForWrite(h.v, c, false)
	if err != nil || leaf == nil {
		return err
	}
	_, _, li := split(c)
	old := leaf[li] & idMask
	leaf[li] = 0
	p.decChunk(old)
	return nil
}

// allocZero leaves chunk c mapped, private and zero-filled.
func (h *Volume) allocZero(c uint64) error {
	p := h.p
	s := &p.stripes[h.stripe(c)]
	s.Lock()
	defer s.Unlock()
	p.mu.Lock()
	id, excl := p.lookup(h.v, c)
	if id != 0 && excl {
		p.mu.Unlock()
		return unix.Fallocate(int(p.data.Fd()), unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, int64(id)<<p.shift, p.chunk)
	}
	leaf, err := p.leafForWrite(h.v, c, true)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	_, _, li := split(c)
	old := leaf[li] & idMask
	if old != 0 && p.owned(old) {
		p.mu.Unlock()
		return unix.Fallocate(int(p.data.Fd()), unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, int64(old)<<p.shift, p.chunk)
	}
	nid, err := p.alloc()
	if err != nil {
		p.mu.Unlock()
		return err
	}
	p.setRef(nid, 1)
	leaf[li] = nid
	if old != 0 {
		p.decChunk(old)
	}
	p.mu.Unlock()
	// A fresh id is a hole; reserving its blocks is what NO_HOLE asks for.
	return unix.Fallocate(int(p.data.Fd()), 0, int64(nid)<<p.shift, p.chunk)
}

// zeroPartial handles a sub-chunk range. An unmapped chunk already reads as
// zeros. An owned chunk is punched. A shared chunk is left alone by Trim
// and copied-then-zeroed by Zero.
func (h *Volume) zeroPartial(c uint64, in, l int64, zero bool) error {
	p := h.p
	s := &p.stripes[h.stripe(c)]
	s.Lock()
	p.mu.RLock()
	id, excl := p.lookup(h.v, c)
	p.mu.RUnlock()
	switch {
	case id == 0:
		s.Unlock()
		return nil
	case excl:
		err := p.punch(int64(id)<<p.shift+in, l)
		s.Unlock()
		return err
	case !zero:
		s.Unlock()
		return nil
	}
	s.Unlock()
	return h.writeChunk(c, in, p.zeros[:l])
}

// readData reads the data file. A chunk's tail past the end of the file was
// never written and reads as zeros.
func (p *Pool) readData(b []byte, off int64) error {
	n, err := p.data.ReadAt(b, off)
	if err == io.EOF {
		clear(b[n:])
		return nil
	}
	return err
}

// readCached fills b from the data file at off if the page cache holds it
// all (preadv2 with RWF_NOWAIT), and reports whether it did. A short read,
// which also happens at the end of the file, counts as a miss: readData
// handles those.
func (p *Pool) readCached(b []byte, off int64) bool {
	n, err := unix.Preadv2(int(p.data.Fd()), [][]byte{b}, off, unix.RWF_NOWAIT)
	return err == nil && n == len(b)
}

func diskBlocks(f *os.File) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, err
	}
	return st.Blocks * 512, nil
}
