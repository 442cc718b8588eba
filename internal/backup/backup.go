package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stowage/stowage/internal/diskimage"
	"github.com/stowage/stowage/internal/errs"
)

// Store is one bucket as backups use it. Keys are relative to nothing:
// the Set adds its prefix.
type Store interface {
	// Put stores size bytes from r under key; the object is visible whole
	// or not at all.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get reads length bytes of key from off (length < 0: to the end);
	// a missing key is errs.NotExist.
	Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)
	// Delete removes key; a missing key is success.
	Delete(ctx context.Context, key string) error
	// List returns every key starting with prefix.
	List(ctx context.Context, prefix string) ([]string, error)
}

// Source is a snapshot as a backup reads it.
type Source interface {
	Size() int64
	ReadAt(ctx context.Context, b []byte, off int64) error
}

// Target is a new volume a restore writes; ranges not written must read
// as zeros.
type Target interface {
	WriteAt(ctx context.Context, b []byte, off int64) error
	Flush(ctx context.Context) error
}

// Set is the backups of one volume under one prefix of a bucket.
type Set struct {
	store  Store
	prefix string
	s      *sealer
	c      *codec
	// Grace is how old a pack no manifest names must be before GC deletes
	// it: younger ones may belong to a backup still being written (one
	// started by another job of the same volume). An hour when Open
	// returns.
	Grace time.Duration
}

// maxChunk bounds the chunk size a manifest may declare, and so what one
// record may decompress to.
const maxChunk = 4 << 20

// Open returns the set named set stored under prefix ("" or ending in
// "/"), sealed with key (32 bytes).
func Open(st Store, prefix, set string, key []byte) (*Set, error) {
	s, err := newSealer(key, set)
	if err != nil {
		return nil, err
	}
	c, err := newCodec(maxChunk)
	if err != nil {
		return nil, err
	}
	return &Set{store: st, prefix: prefix, s: s, c: c, Grace: time.Hour}, nil
}

// Close releases the set's codec.
func (s *Set) Close() { s.c.close() }

func (s *Set) manifestKey(id string) string { return s.prefix + "manifests/" + id }
func (s *Set) packKey(id string) string     { return s.prefix + "packs/" + id }

// NewID returns a backup or pack id: time-ordered, so listing sorts by age.
func NewID(now time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(b[:])
}

// Options describe one backup.
type Options struct {
	// ID names the backup (NewID); Now is its creation time.
	ID  string
	Now time.Time
	// Parent is the backup whose manifest this one starts from; "" makes
	// a full backup.
	Parent string
	// Changed lists, ascending, the chunk indexes that may differ from the
	// parent (or, for a full backup, every chunk that may hold data): the
	// thin pool's map diff. Chunks not listed are taken from the parent.
	Changed []int64
	// ChunkSize is the chunk in bytes (the pool's).
	ChunkSize int64
	// PackSize is the pack object size to aim for; 32 MiB when zero.
	PackSize int64
}

// Result is what a backup wrote.
type Result struct {
	Header
	// Written is every byte put into the bucket: packs and manifest.
	Written int64
}

// Backup stores src as backup o.ID and returns its header. The manifest
// is written only after every pack it names is stored.
func (s *Set) Backup(ctx context.Context, src Source, o Options) (Result, error) {
	r, err := s.backup(ctx, src, o)
	if err != nil {
		return r, fmt.Errorf("backup %s: %w", o.ID, err)
	}
	return r, nil
}

func (s *Set) backup(ctx context.Context, src Source, o Options) (Result, error) {
	if o.ChunkSize <= 0 || o.ChunkSize > maxChunk || o.ID == "" || strings.Contains(o.ID, "/") {
		return Result{}, errs.E(errs.Invalid, "backup needs an id and a chunk size up to %d", maxChunk)
	}
	if o.PackSize <= 0 {
		o.PackSize = 32 << 20
	}
	size := src.Size()
	m := &Manifest{Header: Header{Version: Version, ID: o.ID, Set: s.s.set, Parent: o.Parent, Created: o.Now.UTC(),
		Size: size, ChunkSize: o.ChunkSize}}
	var prev *Manifest
	if o.Parent != "" {
		p, err := s.Manifest(ctx, o.Parent)
		if err != nil {
			return Result{}, err
		}
		if p.ChunkSize != o.ChunkSize {
			return Result{}, errs.E(errs.Invalid, "parent %s has chunk size %d, not %d", o.Parent, p.ChunkSize, o.ChunkSize)
		}
		prev = p
	}
	var res Result
	pack := &packWriter{s: s, limit: o.PackSize}
	var fresh []Entry // records this backup wrote, by chunk
	workers := runtime.GOMAXPROCS(0)
	const batch = 64
	for i := 0; i < len(o.Changed); i += batch {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		cs := o.Changed[i:min(len(o.Changed), i+batch)]
		recs := make([][]byte, len(cs))
		errc := make([]error, len(cs))
		var wg sync.WaitGroup
		next := make(chan int)
		for range min(workers, len(cs)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, o.ChunkSize)
				for k := range next {
					recs[k], errc[k] = s.record(ctx, src, cs[k], o.ChunkSize, size, buf)
				}
			}()
		}
		for k := range cs {
			next <- k
		}
		close(next)
		wg.Wait()
		for k, c := range cs {
			if errc[k] != nil {
				return res, errc[k]
			}
			if recs[k] == nil {
				continue // zeros: no entry, the restore leaves a hole
			}
			e, err := pack.add(ctx, recs[k])
			if err != nil {
				return res, err
			}
			e.Chunk = c
			fresh = append(fresh, e)
			res.Stored += int64(len(recs[k]))
		}
	}
	if err := pack.close(ctx); err != nil {
		return res, err
	}
	res.Written = pack.written
	m.Stored = res.Stored
	m.Entries, m.Packs = merge(prev, o.Changed, fresh, pack.ids)
	m.Chunks = int64(len(m.Entries))
	b, err := encodeManifest(s.s, s.c, m)
	if err != nil {
		return res, err
	}
	if err := s.store.Put(ctx, s.manifestKey(o.ID), bytes.NewReader(b), int64(len(b))); err != nil {
		return res, fmt.Errorf("store manifest: %w", err)
	}
	res.Written += int64(len(b))
	res.Header = m.Header
	return res, nil
}

// record reads chunk c and returns its sealed record, or nil when it is
// all zeros.
func (s *Set) record(ctx context.Context, src Source, c, chunk, size int64, buf []byte) ([]byte, error) {
	off := c * chunk
	if off >= size {
		return nil, errs.E(errs.Invalid, "chunk %d is past the end of the volume", c)
	}
	b := buf[:min(chunk, size-off)]
	if err := src.ReadAt(ctx, b, off); err != nil {
		return nil, fmt.Errorf("read chunk %d: %w", c, err)
	}
	if diskimage.IsZero(b) {
		return nil, nil
	}
	return s.s.seal(nil, s.c.enc.EncodeAll(b, nil), s.s.aad("chunk", uint64(c), "")), nil
}

// merge builds a manifest's entries: the parent's, minus every changed
// chunk, plus the fresh records (in new packs, whose indexes follow the
// parent's packs that are still referenced).
func merge(prev *Manifest, changed []int64, fresh []Entry, newPacks []string) ([]Entry, []string) {
	var packs []string
	var out []Entry
	if prev != nil {
		remap := make([]int64, len(prev.Packs))
		for i := range remap {
			remap[i] = -1
		}
		j := 0
		for _, e := range prev.Entries {
			for j < len(changed) && changed[j] < e.Chunk {
				j++
			}
			if j < len(changed) && changed[j] == e.Chunk {
				continue
			}
			if remap[e.Pack] < 0 {
				remap[e.Pack] = int64(len(packs))
				packs = append(packs, prev.Packs[e.Pack])
			}
			e.Pack = uint32(remap[e.Pack])
			out = append(out, e)
		}
	}
	base := uint32(len(packs))
	packs = append(packs, newPacks...)
	for _, e := range fresh {
		e.Pack += base
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return int(min(max(a.Chunk-b.Chunk, -1), 1)) })
	if packs == nil {
		packs = []string{}
	}
	return out, packs
}

// packWriter appends records to a pack and stores it when full.
type packWriter struct {
	s       *Set
	limit   int64
	buf     []byte
	ids     []string
	written int64
}

func (p *packWriter) add(ctx context.Context, rec []byte) (Entry, error) {
	if int64(len(p.buf)+len(rec)) > p.limit && len(p.buf) > 0 {
		if err := p.close(ctx); err != nil {
			return Entry{}, err
		}
	}
	e := Entry{Pack: uint32(len(p.ids)), Offset: int64(len(p.buf)), Length: uint32(len(rec))}
	p.buf = append(p.buf, rec...)
	return e, nil
}

// close stores the pack being filled, if any.
func (p *packWriter) close(ctx context.Context) error {
	if len(p.buf) == 0 {
		return nil
	}
	id := NewID(time.Now())
	if err := p.s.store.Put(ctx, p.s.packKey(id), bytes.NewReader(p.buf), int64(len(p.buf))); err != nil {
		return fmt.Errorf("store pack: %w", err)
	}
	p.written += int64(len(p.buf))
	p.ids = append(p.ids, id)
	p.buf = p.buf[:0]
	return nil
}

// Manifest reads backup id's manifest.
func (s *Set) Manifest(ctx context.Context, id string) (*Manifest, error) {
	if id == "" || strings.Contains(id, "/") {
		return nil, errs.E(errs.NotExist, "backup %q not found", id)
	}
	rc, err := s.store.Get(ctx, s.manifestKey(id), 0, -1)
	if err != nil {
		if errs.Is(err, errs.NotExist) {
			return nil, errs.E(errs.NotExist, "backup %s not found", id)
		}
		return nil, fmt.Errorf("read backup %s: %w", id, err)
	}
	defer rc.Close()
	b, err := readAllLimit(rc, maxManifest)
	if err != nil {
		return nil, fmt.Errorf("read backup %s: %w", id, err)
	}
	dec, err := newCodec(maxManifest)
	if err != nil {
		return nil, err
	}
	defer dec.close()
	return decodeManifest(s.s, dec, id, b)
}

// List returns the ids of the set's complete backups, oldest first.
func (s *Set) List(ctx context.Context) ([]string, error) {
	keys, err := s.store.List(ctx, s.prefix+"manifests/")
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, strings.TrimPrefix(k, s.prefix+"manifests/"))
	}
	slices.Sort(ids)
	return ids, nil
}

// maxRead bounds one ranged read of a pack during restore.
const maxRead = 8 << 20

// Restore writes backup id into t, which must be at least the backup's
// Size and read as zeros where nothing is written, then flushes it.
func (s *Set) Restore(ctx context.Context, id string, t Target) (Header, error) {
	m, err := s.Manifest(ctx, id)
	if err != nil {
		return Header{}, err
	}
	if err := s.restore(ctx, m, t); err != nil {
		return m.Header, fmt.Errorf("restore backup %s: %w", id, err)
	}
	return m.Header, t.Flush(ctx)
}

// span is consecutive records of one pack, read with one request.
type span struct {
	pack     uint32
	off, end int64
	entries  []Entry
}

func (s *Set) restore(ctx context.Context, m *Manifest, t Target) error {
	byPack := slices.Clone(m.Entries)
	slices.SortFunc(byPack, func(a, b Entry) int {
		if a.Pack != b.Pack {
			return int(a.Pack) - int(b.Pack)
		}
		return int(min(max(a.Offset-b.Offset, -1), 1))
	})
	var spans []span
	for _, e := range byPack {
		if int64(e.Length) > maxChunk+1024 {
			return errs.E(errs.Invalid, "record of chunk %d is %d bytes", e.Chunk, e.Length)
		}
		end := e.Offset + int64(e.Length)
		if k := len(spans); k > 0 && spans[k-1].pack == e.Pack && spans[k-1].end == e.Offset && end-spans[k-1].off <= maxRead {
			spans[k-1].end = end
			spans[k-1].entries = append(spans[k-1].entries, e)
			continue
		}
		spans = append(spans, span{pack: e.Pack, off: e.Offset, end: end, entries: []Entry{e}})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan span)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	fail := func(err error) {
		once.Do(func() { firstErr = err; cancel() })
	}
	// Four spans in flight: a restore waits on the bucket and the disk
	// more than on the CPU.
	for range max(4, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dec, err := newCodec(m.ChunkSize)
			if err != nil {
				fail(err)
				return
			}
			defer dec.close()
			for sp := range work {
				if err := s.restoreSpan(ctx, m, dec, sp, t); err != nil {
					fail(err)
				}
			}
		}()
	}
	for _, sp := range spans {
		select {
		case work <- sp:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err() // the caller's cancellation
	}
	return firstErr
}

func (s *Set) restoreSpan(ctx context.Context, m *Manifest, dec *codec, sp span, t Target) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	rc, err := s.store.Get(ctx, s.packKey(m.Packs[sp.pack]), sp.off, sp.end-sp.off)
	if err != nil {
		return fmt.Errorf("read pack %s: %w", m.Packs[sp.pack], err)
	}
	b, err := readAllLimit(rc, sp.end-sp.off)
	rc.Close()
	if err != nil {
		return err
	}
	if int64(len(b)) != sp.end-sp.off {
		return errs.E(errs.Invalid, "pack %s is shorter than its manifest says", m.Packs[sp.pack])
	}
	for _, e := range sp.entries {
		rec := b[e.Offset-sp.off : e.Offset-sp.off+int64(e.Length)]
		comp, err := s.s.open(rec, s.s.aad("chunk", uint64(e.Chunk), ""))
		if err != nil {
			return fmt.Errorf("chunk %d: %w", e.Chunk, err)
		}
		off := e.Chunk * m.ChunkSize
		want := min(m.ChunkSize, m.Size-off)
		plain, err := dec.dec.DecodeAll(comp, make([]byte, 0, want))
		if err != nil || int64(len(plain)) != want {
			return errs.E(errs.Invalid, "chunk %d does not decompress to %d bytes", e.Chunk, want)
		}
		if err := t.WriteAt(ctx, plain, off); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes backups. Later backups stay restorable: a pack is
// deleted only when no remaining manifest names it.
func (s *Set) Delete(ctx context.Context, ids ...string) error {
	for _, id := range ids {
		if id == "" || strings.Contains(id, "/") {
			return errs.E(errs.NotExist, "backup %q not found", id)
		}
		if err := s.store.Delete(ctx, s.manifestKey(id)); err != nil {
			return fmt.Errorf("delete backup %s: %w", id, err)
		}
	}
	if _, err := s.GC(ctx); err != nil {
		return fmt.Errorf("delete backups: %w", err)
	}
	return nil
}

// GC deletes the packs no manifest names and older than s.Grace: those of
// deleted backups, and those a backup stored before it stopped without
// its manifest. It returns the packs deleted.
func (s *Set) GC(ctx context.Context) (int, error) {
	ids, err := s.List(ctx)
	if err != nil {
		return 0, err
	}
	live := map[string]bool{}
	for _, id := range ids {
		m, err := s.Manifest(ctx, id)
		if err != nil {
			return 0, err // never delete on a manifest we cannot read
		}
		for _, p := range m.Packs {
			live[p] = true
		}
	}
	keys, err := s.store.List(ctx, s.prefix+"packs/")
	if err != nil {
		return 0, fmt.Errorf("list packs: %w", err)
	}
	cutoff := NewID(time.Now().Add(-s.Grace)) // ids sort by creation time
	n := 0
	for _, k := range keys {
		id := strings.TrimPrefix(k, s.prefix+"packs/")
		if live[id] || id > cutoff {
			continue
		}
		if err := s.store.Delete(ctx, k); err != nil {
			return n, fmt.Errorf("delete pack: %w", err)
		}
		n++
	}
	return n, nil
}
