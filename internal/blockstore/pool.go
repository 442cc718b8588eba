package blockstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/internal/diskspace"
	"github.com/stowage/stowage/internal/errs"
)

// Options configure a pool. The zero value is usable.
type Options struct {
	// ChunkSize is the allocation and copy-on-write unit in bytes, a power
	// of two from 16 KiB to 1 MiB; 64 KiB when zero. It is fixed when the
	// pool is created; opening an existing pool ignores it.
	ChunkSize int64
	// CheckpointBytes is the journal size that triggers a checkpoint;
	// 64 MiB when zero.
	CheckpointBytes int64
	// Reserve is free space the pool leaves on its file system: allocating
	// a chunk that would eat into it fails with errs.NoSpace, while writes
	// to chunks a volume already owns go on. Zero keeps no reserve.
	Reserve int64
}

const (
	DefaultChunkSize = 64 << 10
	minChunkSize     = 16 << 10
	maxChunkSize     = 1 << 20
	superblockName   = "pool.json"
	dataName         = "data"
	walName          = "meta.wal"
	stripeCount      = 1024
)

type superblock struct {
	Version    int    `json:"version"`
	UUID       string `json:"uuid"`
	ChunkSize  int64  `json:"chunk_size"`
	Checkpoint uint64 `json:"checkpoint"` // N of meta.ckpt.N
}

// Pool is a thin pool in one directory. All methods are safe for concurrent
// use.
type Pool struct {
	dir       string
	sb        superblock
	chunk     int64
	shift     uint
	ckptBytes int64

	zeros []byte // one chunk of zeros, never written

	data *os.File
	view *fileView // data mapped, for ViewAt
	wal  *os.File
	lock *os.File

	// ioMu is held shared by every data I/O and exclusively by operations
	// that must see no I/O in flight: capturing a commit (so every write
	// replied to is in the captured maps and on the data file before its
	// fdatasync), snapshot, clone, delete and close.
	ioMu sync.RWMutex
	// stripes serialize I/O on the same (volume, chunk): a copy-on-write
	// must finish copying before a read or another write of that chunk may
	// look at the new mapping.
	stripes [stripeCount]sync.RWMutex

	// mu guards the metadata below it.
	mu         sync.RWMutex
	st         *state
	reserve    diskspace.Reserve
	allocs     uint64   // chunk and page allocations, to space out reserve checks
	free       []uint64 // ids reusable now; their data range is a hole
	freeChunks []uint64 // freed since the last commit capture; punched and reused after it is durable
	freePages  []uint64
	dirtyPages map[uint64]struct{}
	dirtyRefs  map[uint64]struct{}
	dirtyVols  map[string]struct{}
	shrunk     map[uint64]struct{} // ids whose refcount dropped since the last commit capture
	shrinking  map[uint64]struct{} // the same for the commit being made durable
	closed     bool

	commitMu  sync.Mutex // one commit at a time; later flushes wait and group
	reqGen    atomic.Uint64
	doneGen   uint64 // under commitMu
	walSize   int64  // under commitMu
	failed    atomic.Pointer[error]
	closeOnce sync.Once
	closeErr  error
}

// Open opens the pool in dir, creating it if dir holds no pool. Opening
// replays the journal to its last whole record and returns the pool ready
// for use; a pool is opened by one process at a time.
func Open(ctx context.Context, dir string, opts Options) (*Pool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.CheckpointBytes <= 0 {
		opts.CheckpointBytes = 64 << 20
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open pool %s: %w", dir, err)
	}
	p := &Pool{dir: dir, ckptBytes: opts.CheckpointBytes, reserve: diskspace.New(dir, opts.Reserve),
		dirtyPages: map[uint64]struct{}{}, dirtyRefs: map[uint64]struct{}{}, dirtyVols: map[string]struct{}{},
		shrunk: map[uint64]struct{}{}}
	var err error
	p.lock, err = os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open pool %s: %w", dir, err)
	}
	if err := unix.Flock(int(p.lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		p.lock.Close()
		return nil, errs.Wrap(errs.Conflict, "pool "+dir+" is in use", err)
	}
	if err := p.open(opts); err != nil {
		p.closeFiles()
		return nil, fmt.Errorf("open pool %s: %w", dir, err)
	}
	return p, nil
}

func (p *Pool) open(opts Options) error {
	b, err := os.ReadFile(filepath.Join(p.dir, superblockName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := p.create(opts); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &p.sb); err != nil {
			return fmt.Errorf("superblock: %w", err)
		}
		if p.sb.Version != 1 || !validChunk(p.sb.ChunkSize) {
			return fmt.Errorf("superblock: unsupported version %d or chunk size %d", p.sb.Version, p.sb.ChunkSize)
		}
	}
	p.chunk = p.sb.ChunkSize
	p.zeros = make([]byte, p.chunk)
	for int64(1)<<p.shift < p.chunk {
		p.shift++
	}
	if p.data, err = os.OpenFile(filepath.Join(p.dir, dataName), os.O_RDWR|os.O_CREATE, 0o640); err != nil {
		return err
	}
	p.view = &fileView{fd: int(p.data.Fd())}
	if p.wal, err = os.OpenFile(filepath.Join(p.dir, walName), os.O_RDWR|os.O_CREATE, 0o640); err != nil {
		return err
	}
	return p.recover()
}

func validChunk(c int64) bool {
	return c >= minChunkSize && c <= maxChunkSize && c&(c-1) == 0
}

func (p *Pool) create(opts Options) error {
	c := opts.ChunkSize
	if c == 0 {
		c = DefaultChunkSize
	}
	if !validChunk(c) {
		return errs.E(errs.Invalid, "chunk size %d must be a power of two from 16 KiB to 1 MiB", c)
	}
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return err
	}
	p.sb = superblock{Version: 1, UUID: hex.EncodeToString(u[:]), ChunkSize: c, Checkpoint: 0}
	// Checkpoint 0 is the empty pool; the superblock that names it is
	// written last, so a crash in between leaves no pool and the next Open
	// starts over.
	if err := writeFileSync(filepath.Join(p.dir, ckptName(0)), frame(newState().full().encode())); err != nil {
		return err
	}
	for _, name := range []string{dataName, walName} {
		if err := os.Truncate(filepath.Join(p.dir, name), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return p.writeSuperblock()
}

func ckptName(n uint64) string { return fmt.Sprintf("meta.ckpt.%d", n) }

func (p *Pool) writeSuperblock() error {
	b, err := json.MarshalIndent(p.sb, "", "  ")
	if err != nil {
		return err
	}
	return writeFileSync(filepath.Join(p.dir, superblockName), append(b, '\n'))
}

// writeFileSync replaces name atomically and durably: write a temp file,
// fsync it, rename it over name, fsync the directory.
func writeFileSync(name string, b []byte) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	return syncDir(filepath.Dir(name))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// recover loads the checkpoint named by the superblock, replays every whole
// journal record after it, cuts the journal at the first torn record, and
// rebuilds the free list. Data written to chunks that no committed map
// references is discarded by punching those chunks, so every free chunk
// reads as zeros when it is handed out again.
func (p *Pool) recover() error {
	b, err := os.ReadFile(filepath.Join(p.dir, ckptName(p.sb.Checkpoint)))
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	payload, _, ok := unframe(b)
	if !ok {
		return fmt.Errorf("checkpoint %d is corrupt", p.sb.Checkpoint)
	}
	st := newState()
	if err := st.apply(payload); err != nil {
		return fmt.Errorf("checkpoint %d: %w", p.sb.Checkpoint, err)
	}
	w, err := io.ReadAll(p.wal)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	off := 0
	for off < len(w) {
		payload, n, ok := unframe(w[off:])
		if !ok {
			break
		}
		txid := (&decoder{b: payload}).u64()
		if txid > st.txid {
			if err := st.apply(payload); err != nil {
				// A record with a valid checksum that does not decode is a
				// bug, not a torn write: refuse to guess.
				return fmt.Errorf("journal record at %d: %w", off, err)
			}
		}
		off += n
	}
	if off < len(w) {
		if err := p.wal.Truncate(int64(off)); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		if err := unix.Fdatasync(int(p.wal.Fd())); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	p.walSize = int64(off)
	p.st = st
	// Pages with no references cannot exist in a committed state, but a
	// page freed in the same record as its parent is dropped here too.
	for id := range st.pages {
		if st.ref(id) == 0 {
			delete(st.pages, id)
		}
	}
	fi, err := p.data.Stat()
	if err != nil {
		return err
	}
	if limit := int64(st.hwm) << p.shift; fi.Size() > limit {
		if err := p.data.Truncate(limit); err != nil {
			return fmt.Errorf("data: %w", err)
		}
	}
	var start uint64
	for id := uint64(1); id <= st.hwm; id++ {
		isFree := id < st.hwm && st.ref(id) == 0
		if isFree {
			p.free = append(p.free, id)
			if start == 0 {
				start = id
			}
			continue
		}
		if start != 0 {
			if err := p.punch(int64(start)<<p.shift, int64(id-start)<<p.shift); err != nil {
				return fmt.Errorf("data: %w", err)
			}
			start = 0
		}
	}
	// Reuse low ids first so the data file stays compact.
	for i, j := 0, len(p.free)-1; i < j; i, j = i+1, j-1 {
		p.free[i], p.free[j] = p.free[j], p.free[i]
	}
	if err := unix.Fdatasync(int(p.data.Fd())); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := p.wal.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	return nil
}

func (p *Pool) punch(off, n int64) error {
	if n <= 0 {
		return nil
	}
	return unix.Fallocate(int(p.data.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}

// ChunkSize returns the pool's chunk size in bytes.
func (p *Pool) ChunkSize() int64 { return p.chunk }

func (p *Pool) checkFailed() error {
	if e := p.failed.Load(); e != nil {
		return *e
	}
	return nil
}

// fail puts the pool into a failed state: after a failed fsync nobody knows
// what is on disk, so the only safe answer to every later call is an error
// until the pool is reopened and recovered.
func (p *Pool) fail(err error) error {
	err = errs.Wrap(errs.Unavailable, "pool failed", err)
	p.failed.CompareAndSwap(nil, &err)
	return err
}

// Flush makes every write that completed before it was called durable, for
// all volumes in the pool. Concurrent flushes share one commit.
func (p *Pool) Flush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.commit(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// commit makes the current metadata durable: capture it with no I/O in
// flight, fdatasync the data file, then append and sync the journal record
// (or write a checkpoint when the journal is long), and only then release
// the chunks the commit freed.
func (p *Pool) commit() (err error) {
	defer func() { err = noSpace(err) }()
	gen := p.reqGen.Add(1)
	p.commitMu.Lock()
	defer p.commitMu.Unlock()
	if err := p.checkFailed(); err != nil {
		return err
	}
	if p.doneGen >= gen {
		return nil // a commit captured after our request already finished
	}
	capGen := p.reqGen.Load()
	ckpt := p.walSize >= p.ckptBytes

	p.ioMu.Lock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.ioMu.Unlock()
		return errs.E(errs.Unavailable, "pool is closed")
	}
	var rec []byte
	if ckpt || len(p.dirtyPages)+len(p.dirtyRefs)+len(p.dirtyVols) > 0 {
		p.st.txid++
		var d *delta
		if ckpt {
			d = p.st.full()
		} else {
			d = p.dirtyDelta()
		}
		rec = frame(d.encode())
		clear(p.dirtyPages)
		clear(p.dirtyRefs)
		clear(p.dirtyVols)
	}
	freed := p.freeChunks
	freedPages := p.freePages
	p.freeChunks, p.freePages = nil, nil
	p.shrinking, p.shrunk = p.shrunk, map[uint64]struct{}{}
	p.mu.Unlock()
	p.ioMu.Unlock()

	if err := unix.Fdatasync(int(p.data.Fd())); err != nil {
		return p.fail(fmt.Errorf("sync data: %w", err))
	}
	if rec != nil {
		if ckpt {
			if err := p.checkpoint(rec); err != nil {
				return p.fail(err)
			}
		} else {
			if _, err := p.wal.Write(rec); err != nil {
				return p.fail(fmt.Errorf("append journal: %w", err))
			}
			if err := unix.Fdatasync(int(p.wal.Fd())); err != nil {
				return p.fail(fmt.Errorf("sync journal: %w", err))
			}
			p.walSize += int64(len(rec))
		}
	}
	// The frees are durable now. Punch before reuse so that a chunk handed
	// out again reads as zeros where the new owner has not written.
	for _, id := range freed {
		if err := p.punch(int64(id)<<p.shift, p.chunk); err != nil {
			return p.fail(fmt.Errorf("punch chunk %d: %w", id, err))
		}
	}
	p.mu.Lock()
	p.free = append(p.free, freedPages...)
	p.free = append(p.free, freed...)
	p.shrinking = nil
	p.mu.Unlock()
	p.doneGen = capGen
	return nil
}

// checkpoint writes the full state as meta.ckpt.N+1, points the superblock
// at it, and empties the journal. A crash between the superblock rename and
// the journal truncation is harmless: recovery skips journal records whose
// txid the checkpoint already covers.
func (p *Pool) checkpoint(rec []byte) error {
	next := p.sb.Checkpoint + 1
	if err := writeFileSync(filepath.Join(p.dir, ckptName(next)), rec); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	old := p.sb.Checkpoint
	p.sb.Checkpoint = next
	if err := p.writeSuperblock(); err != nil {
		p.sb.Checkpoint = old
		return fmt.Errorf("write superblock: %w", err)
	}
	if err := p.wal.Truncate(0); err != nil {
		return fmt.Errorf("truncate journal: %w", err)
	}
	if _, err := p.wal.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := unix.Fdatasync(int(p.wal.Fd())); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	p.walSize = 0
	_ = os.Remove(filepath.Join(p.dir, ckptName(old)))
	return nil
}

func (p *Pool) dirtyDelta() *delta {
	st := p.st
	d := &delta{txid: st.txid, hwm: st.hwm, nextNum: st.nextNum,
		refs: make(map[uint64]uint32, len(p.dirtyRefs)), pages: make(map[uint64]*page, len(p.dirtyPages))}
	for id := range p.dirtyRefs {
		d.refs[id] = st.ref(id)
	}
	for id := range p.dirtyPages {
		d.pages[id] = st.pages[id] // nil when freed
	}
	for name := range p.dirtyVols {
		if v, ok := st.vols[name]; ok {
			d.putVols = append(d.putVols, v)
		} else {
			d.delVols = append(d.delVols, name)
		}
	}
	return d
}

// Close commits outstanding metadata with a checkpoint and closes the pool.
// It waits for I/O in flight. Close is idempotent.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		var err error
		if p.checkFailed() == nil {
			p.commitMu.Lock()
			p.walSize = p.ckptBytes // force a checkpoint so the next Open replays nothing
			p.commitMu.Unlock()
			err = p.commit()
		}
		p.ioMu.Lock()
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.view.close()
		p.ioMu.Unlock()
		if cerr := p.closeFiles(); err == nil {
			err = cerr
		}
		p.closeErr = err
	})
	return p.closeErr
}

func (p *Pool) closeFiles() error {
	var first error
	for _, f := range []*os.File{p.data, p.wal, p.lock} {
		if f != nil {
			if err := f.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}
