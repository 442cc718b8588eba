package blockstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/stowage/stowage/internal/errs"
)

// The map operations below run with p.mu held for writing unless they say
// otherwise.

// alloc hands out an id whose data range is known to be a hole: a reused
// id was punched after the commit that freed it, a new one lies past every
// chunk ever written.
func (p *Pool) alloc() (uint64, error) {
	// Every id may need a chunk of disk (freed ids are holes). Asking the
	// file system once per 16 allocations keeps statfs off the hot path
	// and still stops within a megabyte or so of the reserve.
	if p.allocs%16 == 0 {
		if err := p.reserve.Check(16 * p.chunk); err != nil {
			return 0, err
		}
	}
	p.allocs++
	if n := len(p.free); n > 0 {
		id := p.free[n-1]
		p.free = p.free[:n-1]
		return id, nil
	}
	if p.st.hwm > idMask {
		return 0, errs.E(errs.NoSpace, "pool has no free chunk ids")
	}
	id := p.st.hwm
	p.st.hwm++
	return id, nil
}

func (p *Pool) setRef(id uint64, v uint32) {
	p.st.setRef(id, v)
	p.dirtyRefs[id] = struct{}{}
}

func (p *Pool) newPage(pg *page) (uint64, error) {
	id, err := p.alloc()
	if err != nil {
		return 0, err
	}
	p.st.pages[id] = pg
	p.setRef(id, 1)
	p.dirtyPages[id] = struct{}{}
	return id, nil
}

// copyPage makes a private copy of a page: the copy takes a reference on
// every child, which is the lazy refcount scheme: counts are per referencing
// page, not per volume.
func (p *Pool) copyPage(src uint64) (uint64, error) {
	pg := new(page)
	*pg = *p.st.pages[src]
	for _, e := range pg {
		if id := e & idMask; id != 0 {
			p.setRef(id, p.st.ref(id)+1)
		}
	}
	return p.newPage(pg)
}

// decPage drops one reference to the page id at level; a page that loses
// its last reference drops its children's in turn.
func (p *Pool) decPage(id uint64, level int) {
	r := p.drop(id)
	if r > 0 {
		return
	}
	pg := p.st.pages[id]
	for _, e := range pg {
		c := e & idMask
		if c == 0 {
			continue
		}
		if level > 0 {
			p.decPage(c, level-1)
		} else {
			p.decChunk(c)
		}
	}
	delete(p.st.pages, id)
	p.dirtyPages[id] = struct{}{}
	p.freePages = append(p.freePages, id)
}

func (p *Pool) decChunk(id uint64) {
	r := p.drop(id)
	if r == 0 {
		p.freeChunks = append(p.freeChunks, id)
	}
}

// drop removes one reference to id and returns the count left. An id whose
// count went down is not owned by its remaining holder until that change
// is durable: see owned.
func (p *Pool) drop(id uint64) uint32 {
	r := p.st.ref(id) - 1
	p.setRef(id, r)
	p.shrunk[id] = struct{}{}
	return r
}

// owned reports whether the one holder of id may change it in place.
// A count of one is not enough when it only just dropped to one: if the
// volume that let go did so in a commit that is not yet durable, a crash
// brings back the sharing, and an in-place write made meanwhile would show
// up in the other volume. So exclusivity counts only once established by a
// durable commit; until then writes copy, as for a shared chunk.
func (p *Pool) owned(id uint64) bool {
	if p.st.ref(id) != 1 {
		return false
	}
	if _, ok := p.shrunk[id]; ok {
		return false
	}
	_, ok := p.shrinking[id]
	return !ok
}

func split(c uint64) (root, mid, leaf int) {
	return int(c >> (2 * fanoutBits) & (fanout - 1)), int(c >> fanoutBits & (fanout - 1)), int(c & (fanout - 1))
}

// lookup returns the chunk mapped at volume chunk c and whether the volume
// owns it exclusively: every page on the path and the chunk itself have one
// reference. Needs p.mu held for reading.
func (p *Pool) lookup(v *volRec, c uint64) (id uint64, exclusive bool) {
	return p.find(v, c, true)
}

// mapped is lookup for a caller that needs only the chunk id (a read): it
// skips the ownership checks, several map lookups per chunk.
func (p *Pool) mapped(v *volRec, c uint64) uint64 {
	id, _ := p.find(v, c, false)
	return id
}

// find is lookup, telling exclusivity only if excl.
func (p *Pool) find(v *volRec, c uint64, excl bool) (id uint64, exclusive bool) {
	ri, mi, li := split(c)
	pg := p.st.pages[v.root]
	for _, i := range [2]int{ri, mi} {
		next := pg[i] & idMask
		if next == 0 {
			return 0, false
		}
		excl = excl && p.owned(next)
		pg = p.st.pages[next]
	}
	id = pg[li] & idMask
	if id == 0 {
		return 0, false
	}
	return id, excl && p.owned(id)
}

// leafForWrite returns the leaf page covering chunk c, made private to v by
// copying shared pages on the way down. With create false it returns nil
// where the path does not exist (nothing mapped there).
func (p *Pool) leafForWrite(v *volRec, c uint64, create bool) (*page, error) {
	ri, mi, _ := split(c)
	parentID := v.root // a root page always has exactly one reference
	parent := p.st.pages[parentID]
	for level, i := range [2]int{ri, mi} {
		child := parent[i] & idMask
		switch {
		case child == 0 && !create:
			return nil, nil
		case child == 0:
			id, err := p.newPage(new(page))
			if err != nil {
				return nil, err
			}
			child = id
		case !p.owned(child):
			id, err := p.copyPage(child)
			if err != nil {
				return nil, err
			}
			p.decPage(child, 1-level) // frees it if we were its last holder
			child = id
		default:
			parentID, parent = child, p.st.pages[child]
			continue
		}
		parent[i] = child
		p.dirtyPages[parentID] = struct{}{}
		parentID, parent = child, p.st.pages[child]
	}
	p.dirtyPages[parentID] = struct{}{}
	return parent, nil
}

func (p *Pool) maxSize() int64 { return int64(1) << (levels*fanoutBits + p.shift) }

func (p *Pool) checkSize(size int64) error {
	if size <= 0 || size%512 != 0 {
		return errs.Field("size", "volume size %d must be a positive multiple of 512", size)
	}
	if size > p.maxSize() {
		return errs.Field("size", "volume size %d exceeds the pool maximum %d", size, p.maxSize())
	}
	return nil
}

func (p *Pool) checkOpen() error {
	if err := p.checkFailed(); err != nil {
		return err
	}
	if p.closed {
		return errs.E(errs.Unavailable, "pool is closed")
	}
	return nil
}

func checkID(id string) error {
	if id == "" || len(id) > 255 {
		return errs.Field("id", "volume id must be 1 to 255 bytes")
	}
	return nil
}

// Create makes a thin volume of sizeBytes (a multiple of 512). Creating an
// existing writable volume of the same size succeeds, so a retried job step
// is harmless; any other existing id is an errs.Exist error.
func (p *Pool) Create(ctx context.Context, id string, sizeBytes int64) error {
	if err := p.create1(ctx, id, sizeBytes); err != nil {
		return fmt.Errorf("create volume %s: %w", id, err)
	}
	return nil
}

func (p *Pool) create1(ctx context.Context, id string, size int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	if err := p.checkSize(size); err != nil {
		return err
	}
	p.mu.Lock()
	if err := p.checkOpen(); err != nil {
		p.mu.Unlock()
		return err
	}
	if v, ok := p.st.vols[id]; ok {
		p.mu.Unlock()
		if !v.readOnly && v.size.Load() == size {
			return p.commit() // the first attempt may have crashed before its commit was durable
		}
		return errs.E(errs.Exist, "volume %s already exists", id)
	}
	root, err := p.newPage(new(page))
	if err != nil {
		p.mu.Unlock()
		return err
	}
	v := &volRec{name: id, num: p.st.nextNum, root: root}
	p.st.nextNum++
	v.size.Store(size)
	p.st.vols[id] = v
	p.dirtyVols[id] = struct{}{}
	p.mu.Unlock()
	return p.commit()
}

// Snapshot makes newID a read-only point-in-time copy of srcID (a volume or
// a snapshot). It costs one page copy and one commit whatever the volume
// holds, and waits only for I/O already in flight. Writes completed before
// the call are in the snapshot. An existing read-only newID is success.
func (p *Pool) Snapshot(ctx context.Context, srcID, newID string) error {
	if err := p.branch(ctx, srcID, newID, true); err != nil {
		return fmt.Errorf("snapshot %s as %s: %w", srcID, newID, err)
	}
	return nil
}

// Clone makes newID a writable copy of srcID (a volume or a snapshot), in
// O(1) like Snapshot. An existing writable newID is success.
func (p *Pool) Clone(ctx context.Context, srcID, newID string) error {
	if err := p.branch(ctx, srcID, newID, false); err != nil {
		return fmt.Errorf("clone %s as %s: %w", srcID, newID, err)
	}
	return nil
}

func (p *Pool) branch(ctx context.Context, srcID, newID string, readOnly bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkID(newID); err != nil {
		return err
	}
	// No I/O may be in flight while the root is copied: a copy-on-write
	// half done would be shared by both volumes.
	p.ioMu.Lock()
	p.mu.Lock()
	err := func() error {
		if err := p.checkOpen(); err != nil {
			return err
		}
		if v, ok := p.st.vols[newID]; ok {
			if v.readOnly == readOnly {
				return nil
			}
			return errs.E(errs.Exist, "volume %s already exists", newID)
		}
		src, ok := p.st.vols[srcID]
		if !ok {
			return errs.E(errs.NotExist, "volume %s not found", srcID)
		}
		root, err := p.copyPage(src.root)
		if err != nil {
			return err
		}
		v := &volRec{name: newID, num: p.st.nextNum, root: root, readOnly: readOnly}
		p.st.nextNum++
		v.size.Store(src.size.Load())
		p.st.vols[newID] = v
		p.dirtyVols[newID] = struct{}{}
		return nil
	}()
	p.mu.Unlock()
	p.ioMu.Unlock()
	if err != nil {
		return err
	}
	return p.commit()
}

// Delete removes a volume, snapshot or clone. Chunks and pages it shared
// stay with their other owners; the rest are freed once the delete is
// durable. Deleting a missing id succeeds. Open handles to the volume fail
// with errs.NotExist afterwards.
func (p *Pool) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.ioMu.Lock()
	p.mu.Lock()
	err := p.checkOpen()
	if v, ok := p.st.vols[id]; ok && err == nil {
		v.deleted.Store(true)
		delete(p.st.vols, id)
		p.dirtyVols[id] = struct{}{}
		p.decPage(v.root, levels-1)
	}
	p.mu.Unlock()
	p.ioMu.Unlock()
	if err == nil {
		err = p.commit()
	}
	if err != nil {
		return fmt.Errorf("delete volume %s: %w", id, err)
	}
	return nil
}

// Grow sets the size of a writable volume to newSize, which may not be
// smaller than the current size. The new range reads as zeros. Exports
// already open keep the size they announced.
func (p *Pool) Grow(ctx context.Context, id string, newSize int64) error {
	if err := p.grow(ctx, id, newSize); err != nil {
		return fmt.Errorf("grow volume %s: %w", id, err)
	}
	return nil
}

func (p *Pool) grow(ctx context.Context, id string, newSize int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.checkSize(newSize); err != nil {
		return err
	}
	p.mu.Lock()
	if err := p.checkOpen(); err != nil {
		p.mu.Unlock()
		return err
	}
	v, ok := p.st.vols[id]
	switch {
	case !ok:
		p.mu.Unlock()
		return errs.E(errs.NotExist, "volume %s not found", id)
	case v.readOnly:
		p.mu.Unlock()
		return errs.E(errs.Conflict, "volume %s is a read-only snapshot", id)
	case newSize < v.size.Load():
		p.mu.Unlock()
		return errs.Field("size", "cannot shrink volume %s from %d to %d bytes", id, v.size.Load(), newSize)
	}
	v.size.Store(newSize)
	p.dirtyVols[id] = struct{}{}
	p.mu.Unlock()
	return p.commit()
}

// VolumeStat describes one volume's size and space use.
type VolumeStat struct {
	Size      int64 // logical size in bytes
	ReadOnly  bool  // a snapshot
	Allocated int64 // bytes of chunks the volume maps
	Exclusive int64 // bytes of chunks no other volume shares: what deleting it frees
}

// Stat reports a volume's size and space use. It walks the volume's map, so
// it costs O(mapped chunks); it is meant for the control plane.
func (p *Pool) Stat(ctx context.Context, id string) (VolumeStat, error) {
	if err := ctx.Err(); err != nil {
		return VolumeStat{}, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if err := p.checkOpen(); err != nil {
		return VolumeStat{}, fmt.Errorf("stat volume %s: %w", id, err)
	}
	v, ok := p.st.vols[id]
	if !ok {
		return VolumeStat{}, fmt.Errorf("stat volume %s: %w", id, errs.E(errs.NotExist, "volume %s not found", id))
	}
	s := VolumeStat{Size: v.size.Load(), ReadOnly: v.readOnly}
	var walk func(id uint64, level int, excl bool)
	walk = func(id uint64, level int, excl bool) {
		for _, e := range p.st.pages[id] {
			c := e & idMask
			if c == 0 {
				continue
			}
			x := excl && p.st.ref(c) == 1
			if level > 0 {
				walk(c, level-1, x)
				continue
			}
			s.Allocated += p.chunk
			if x {
				s.Exclusive += p.chunk
			}
		}
	}
	walk(v.root, levels-1, true)
	return s, nil
}

// PoolStat describes the whole pool.
type PoolStat struct {
	ChunkSize int64
	Volumes   int   // volumes, snapshots and clones
	Chunks    int64 // data chunks referenced by at least one map
	Pages     int64 // map pages
	UsedBytes int64 // Chunks * ChunkSize
	DiskBytes int64 // bytes the data file occupies on disk
	FreeIDs   int64 // ids ready for reuse
	HighWater int64 // ids ever handed out
}

// PoolStat reports pool-wide space use.
func (p *Pool) PoolStat(ctx context.Context) (PoolStat, error) {
	if err := ctx.Err(); err != nil {
		return PoolStat{}, err
	}
	p.mu.RLock()
	if err := p.checkOpen(); err != nil {
		p.mu.RUnlock()
		return PoolStat{}, fmt.Errorf("pool stat: %w", err)
	}
	s := PoolStat{ChunkSize: p.chunk, Volumes: len(p.st.vols), Pages: int64(len(p.st.pages)),
		FreeIDs: int64(len(p.free)), HighWater: int64(p.st.hwm)}
	for id, r := range p.st.refs {
		if r != 0 {
			if _, isPage := p.st.pages[uint64(id)]; !isPage {
				s.Chunks++
			}
		}
	}
	p.mu.RUnlock()
	s.UsedBytes = s.Chunks * s.ChunkSize
	if blocks, err := diskBlocks(p.data); err == nil {
		s.DiskBytes = blocks
	}
	return s, nil
}

// List returns the ids of all volumes, snapshots and clones, sorted.
func (p *Pool) List(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]string, 0, len(p.st.vols))
	for name := range p.st.vols {
		out = append(out, name)
	}
	slices.Sort(out)
	return out, nil
}
