// Package objectstore owns the bytes of S3 objects on local disk: bodies
// streamed to temp files while MD5 and the requested S3 checksums are
// computed in one pass, made durable (fsync file, rename, fsync directory)
// under a generated blob id, read back by range (several blobs as one through
// a multipart object's manifest, OpenManifest), copied, deleted, and
// garbage-collected when no metadata refers to them.
//
// It owns no metadata: which key maps to which blob, sizes as the user sees
// them and ETags live in the metadata store. Small bodies may be handed
// back instead of written (PutOptions.InlineMax): the caller keeps them
// with its metadata, whose commit is then their only synchronous write.
// Object keys never reach the file system; blob ids are generated here. Callers depend on the API only
// (a Ceph RADOS implementation will sit behind the same methods), so nothing
// above this package may assume files.
package objectstore

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/internal/checksum"
	"github.com/stowage/stowage/internal/diskspace"
	"github.com/stowage/stowage/internal/errs"
)

// Store keeps blobs under dir/blobs/<xx>/<id> and writes through dir/tmp.
// It is safe for concurrent use; besides its paths it keeps only a pool of
// copy buffers.
type Store struct {
	dir string
	log *slog.Logger
	// bufs recycles copy buffers: a fresh zeroed megabyte per PUT was the
	// largest cost of small uploads (allocation, clearing and GC). They
	// are aligned for O_DIRECT (see writeBehind). bigBufs holds the
	// larger ones of large bodies (see bigBuf).
	bufs, bigBufs sync.Pool
	reserve       diskspace.Reserve
	md5           md5Lanes
}

// Blob describes stored bytes.
type Blob struct {
	// ID names the blob file; "" when the bytes are Inline.
	ID   string
	Size int64
	// MD5 is the digest of the bytes (the ETag of a single-part object).
	MD5 []byte
	// Checksums holds the digests asked for in PutOptions.
	Checksums map[checksum.Algorithm][]byte
	// Inline holds the bytes as they are to be stored (encrypted when
	// asked) of a body no longer than PutOptions.InlineMax; no file exists.
	Inline []byte
}

// PutOptions tunes Put.
type PutOptions struct {
	// Checksums to compute besides MD5, in the same pass.
	Checksums []checksum.Algorithm
	// Limit refuses bodies longer than this many bytes (errs.TooLarge) when
	// positive. It is how callers enforce the single-PUT maximum and a quota
	// reservation without trusting Content-Length.
	Limit int64
	// Encrypt, when set, turns the bytes into what is stored, after MD5
	// and checksums have seen them (server-side encryption: digests are of
	// what the client sent).
	Encrypt cipher.Stream
	// InlineMax, when positive, returns a body of at most this many bytes
	// in Blob.Inline instead of writing a file. A file costs a create, an
	// fsync and a directory fsync; kept with the metadata, a small object
	// costs a share of one commit (most of a small PUT's time).
	InlineMax int
}

const copyBuf = 1 << 20

// bigBuf is the buffer of a body declared at least bigMin bytes long:
// a quarter of the writes, goroutine hand-offs and wake-ups of copyBuf
// ones, which measured 13 % less server CPU per GiB in 64 MiB PUTs on a
// busy 2-core machine (1.66 and 1.95 s against 1.94 and 2.23, in
// alternating runs); smaller bodies keep copyBuf, so that many
// concurrent small PUTs do not hold 8 MiB each.
const (
	bigBuf = 4 << 20
	bigMin = 2 * bigBuf
)

// directAlign is the alignment O_DIRECT asks of memory, file offsets and
// lengths: the page size covers every logical block size in use.
const directAlign = 4096

// alignedBuf returns a size-byte buffer starting on a directAlign
// boundary.
func alignedBuf(size int) *[]byte {
	b := make([]byte, size+directAlign)
	skip := (directAlign - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%directAlign)) % directAlign
	b = b[skip : skip+size : skip+size]
	return &b
}

func isAligned(p []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(p)))%directAlign == 0
}

// Options tune a Store. The zero value is usable.
type Options struct {
	Logger *slog.Logger // nil discards
	// Reserve is free space the store leaves on its file system: a write
	// that would eat into it fails with errs.NoSpace, so that deletes,
	// which need a little room in the metadata journal, still succeed.
	Reserve int64
}

// New opens (creating if needed) a store rooted at dir.
func New(dir string, o Options) (*Store, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("objectstore: create %s: %w", d, err)
		}
	}
	s := &Store{dir: dir, log: log, reserve: diskspace.New(dir, o.Reserve)}
	s.bufs.New = func() any { return alignedBuf(copyBuf) }
	s.bigBufs.New = func() any { return alignedBuf(bigBuf) }
	return s, nil
}

// Close stops the goroutine that hashes large bodies (once the Puts
// using it have returned). The store stays usable, hashing with
// crypto/md5.
func (s *Store) Close() error {
	s.md5.close()
	return nil
}

// validID guards every path built from an id: ids are ours (uuid text), so
// anything else is a bug or corrupted metadata, never a path to follow.
func validID(id string) bool {
	if len(id) != 36 {
		return false
	}
	_, err := uuid.Parse(id)
	return err == nil && !strings.ContainsAny(id, "/\\.")
}

// path fans blobs out over 256 directories by the id's last two hex digits,
// which are random in a v7 uuid (the first ones are a timestamp).
func (s *Store) path(id string) string {
	return filepath.Join(s.dir, "blobs", id[len(id)-2:], id)
}

func newID() (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("objectstore: new id: %w", err)
	}
	return u.String(), nil
}

// Put streams r into a new blob, or returns it in Blob.Inline when it is
// no longer than o.InlineMax. Nothing is visible under the blob's id until
// the bytes are on disk; on any error (including r's) the temp file is
// removed and no blob exists.
//
// The body goes through three stages, each on its own goroutine and a
// buffer at a time (see stream), so a large body costs about the longest
// of receiving, hashing and writing rather than their sum; every write
// has ended when Put returns.
func (s *Store) Put(ctx context.Context, r io.Reader, o PutOptions) (Blob, error) {
	if err := s.reserve.Check(0); err != nil {
		return Blob{}, err
	}
	etag, release := s.md5.hasher(o.Limit)
	defer release()
	body, err := newBody(r, o, etag)
	if err != nil {
		return Blob{}, err
	}
	pool := &s.bufs
	if o.Limit >= bigMin {
		pool = &s.bigBufs
	}
	buf := pool.Get().(*[]byte)
	head, inline, err := body.Head(ctx, *buf)
	if err != nil || inline {
		pool.Put(buf)
		if err != nil {
			return Blob{}, err
		}
		return body.Blob(""), nil
	}
	id, t, err := s.newBlob()
	if err != nil {
		pool.Put(buf)
		return Blob{}, err
	}
	defer t.discard()
	if err := s.stream(ctx, body, &writeBehind{f: t.f}, pool, buf, len(head)); err != nil {
		return Blob{}, err
	}
	if err := s.install(t, id); err != nil {
		return Blob{}, err
	}
	return body.Blob(id), nil
}

// putDepth is how many buffers one Put holds at most: one being
// received, one being hashed, one being written.
const putDepth = 3

// chunk is a buffer on its way through stream: n bytes received, of
// which the first digested were hashed already (the head).
type chunk struct {
	buf         *[]byte
	n, digested int
}

// stream receives the rest of body into buffers from pool, first (whose
// first headLen bytes hold the head, already digested) first, and hands
// each to a goroutine that hashes it and on to one that writes it, in
// order. The socket is read while the previous buffer waits for its
// turn in the MD5 lanes (see md5Lanes), where hashed between receives
// a body's lane stood empty while its next bytes arrived. Every buffer,
// first included, is back in pool and every write has ended when it
// returns.
func (s *Store) stream(ctx context.Context, body *Body, w *writeBehind, pool *sync.Pool, first *[]byte, headLen int) (err error) {
	toDigest := make(chan chunk, putDepth)
	toWrite := make(chan chunk, putDepth)
	free := make(chan *[]byte, putDepth)
	failed := make(chan struct{}) // closed when a write fails
	written := make(chan error, 1)
	go func() {
		for c := range toDigest {
			body.Digest((*c.buf)[c.digested:c.n])
			toWrite <- c
		}
		close(toWrite)
	}()
	go func() {
		var werr error
		for c := range toWrite {
			if werr == nil {
				if _, werr = w.Write((*c.buf)[:c.n]); werr != nil {
					close(failed)
				}
			}
			free <- c.buf
		}
		written <- werr
	}()
	// The head is the start of the first buffer and the rest of it is
	// filled behind it, so every buffer but the last is whole (and
	// aligned, as O_DIRECT wants).
	taken := 1
	cur, filled := first, headLen
	defer func() {
		close(toDigest)
		if werr := <-written; err == nil && werr != nil {
			err = ioErr("write temp file", werr)
		}
		if cur != nil {
			pool.Put(cur)
			taken--
		}
		for range taken {
			pool.Put(<-free)
		}
	}()
	for {
		k, ferr := body.Receive(ctx, (*cur)[filled:])
		k, digested := k+filled, filled
		filled = 0
		if ferr != nil && ferr != io.EOF {
			return ferr
		}
		if k > 0 {
			if err := s.reserve.Check(int64(k)); err != nil {
				return err
			}
			toDigest <- chunk{buf: cur, n: k, digested: digested}
			cur = nil
		}
		if ferr == io.EOF {
			return nil
		}
		if taken < putDepth {
			cur = pool.Get().(*[]byte)
			taken++
			continue
		}
		select {
		case cur = <-free:
		case <-failed:
			return nil // the write's error is returned by the deferred wait
		}
	}
}

// writeBehind writes a blob's file. An aligned buffer of whole pages
// goes straight to the disk (O_DIRECT): profiled under load, copying a
// large PUT into the page cache took twice the CPU of its MD5, and the
// kernel's write-back of those pages more besides. The rest (a ragged
// last buffer, or a file system that refuses O_DIRECT) goes through the page cache,
// which starts the write-back of every writeBehindStep bytes as they
// arrive (sync_file_range), so that the fsync at the end waits for the
// last few megabytes rather than the whole body.
type writeBehind struct {
	f   *os.File
	pos int64 // bytes written
	// off is where the buffered bytes not yet handed to write-back start.
	off, unsynced int64
	direct        bool // O_DIRECT is set on f
	noDirect      bool // f's file system refused O_DIRECT
}

const writeBehindStep = 8 << 20

func (w *writeBehind) Write(p []byte) (int, error) {
	if !w.noDirect && len(p)%directAlign == 0 && w.pos%directAlign == 0 && isAligned(p) {
		if !w.direct && w.setDirect(true) != nil {
			w.noDirect = true
		}
		if w.direct {
			n, err := w.f.Write(p)
			w.pos += int64(n)
			if !errors.Is(err, unix.EINVAL) || n > 0 {
				return n, err
			}
			w.noDirect = true // refused after all: write it through the cache
		}
	}
	if w.direct {
		if err := w.setDirect(false); err != nil {
			return 0, err
		}
	}
	if w.unsynced == 0 {
		w.off = w.pos
	}
	n, err := w.f.Write(p)
	w.pos += int64(n)
	w.unsynced += int64(n)
	if w.unsynced >= writeBehindStep {
		// Advisory: where the file system lacks it, the final fsync does
		// all the work, as it would have anyway.
		_ = unix.SyncFileRange(int(w.f.Fd()), w.off, w.unsynced, unix.SYNC_FILE_RANGE_WRITE)
		w.unsynced = 0
	}
	return n, err
}

// setDirect sets or clears O_DIRECT on the file.
func (w *writeBehind) setDirect(on bool) error {
	fd := int(w.f.Fd())
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if on {
		fl |= unix.O_DIRECT
	} else {
		fl &^= unix.O_DIRECT
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl); err != nil {
		return err
	}
	w.direct = on
	return nil
}

// temp is a blob being written: an unnamed file (O_TMPFILE) in the
// blob's own shard where the file system has them, else a named file in
// tmp/. An unnamed file cannot be left behind by a crash, and writers
// spread over the 256 shards instead of contending for one directory's
// lock (creating files in tmp/ was most of small PUTs' CPU).
type temp struct {
	f     *os.File
	named string // path of a named temp file, "" for an unnamed one
	done  bool
}

// newBlob picks a new blob's id and opens its temp file.
func (s *Store) newBlob() (string, *temp, error) {
	id, err := newID()
	if err != nil {
		return "", nil, err
	}
	t, err := s.newTemp(id)
	return id, t, err
}

func (s *Store) newTemp(id string) (*temp, error) {
	shard := filepath.Dir(s.path(id))
	if err := s.ensureShard(shard); err != nil {
		return nil, err
	}
	fd, err := unix.Open(shard, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o640)
	if err == nil {
		return &temp{f: os.NewFile(uintptr(fd), shard+"/(unnamed)")}, nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL) {
		return nil, ioErr("create temp file", err)
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "put-*")
	if err != nil {
		return nil, ioErr("create temp file", err)
	}
	return &temp{f: f, named: f.Name()}, nil
}

// discard drops a temp file that was not installed.
func (t *temp) discard() {
	if t.done {
		return
	}
	t.f.Close()
	if t.named != "" {
		os.Remove(t.named)
	}
}

func (s *Store) ensureShard(shard string) error {
	if _, err := os.Stat(shard); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(shard, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			return ioErr("create shard", err)
		}
		if err := syncDir(filepath.Dir(shard)); err != nil {
			return ioErr("sync blobs dir", err)
		}
	}
	return nil
}

// install makes a written temp file durable under the blob's id: sync the
// data, give it its name (link or rename), sync the shard, so a crash
// leaves either no blob or the whole blob.
func (s *Store) install(t *temp, id string) error {
	if err := t.f.Sync(); err != nil {
		return ioErr("sync temp file", err)
	}
	final := s.path(id)
	var err error
	if t.named == "" {
		err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(t.f.Fd())), unix.AT_FDCWD, final, unix.AT_SYMLINK_FOLLOW)
	} else {
		err = os.Rename(t.named, final)
	}
	if err != nil {
		return ioErr("name blob", err)
	}
	t.done = true
	if err := t.f.Close(); err != nil {
		return ioErr("close blob", err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return ioErr("sync shard", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func ioErr(what string, err error) error {
	if errors.Is(err, syscallENOSPC) {
		return errs.Wrap(errs.NoSpace, "the object store is full", fmt.Errorf("objectstore: %s: %w", what, err))
	}
	return fmt.Errorf("objectstore: %s: %w", what, err)
}

func (s *Store) ioErr(what string, err error) error { return ioErr(what, err) }

// Reader is an open range of a blob. It implements io.WriterTo so that
// copying it to a network connection can use sendfile.
type Reader struct {
	f   *os.File
	off int64 // where r reads next
	r   io.LimitedReader
}

func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.off += int64(n)
	return n, err
}

// readAheadStep is how much WriteTo sends per sendfile, asking the kernel
// to read the next step from disk meanwhile.
const readAheadStep = 8 << 20

// WriteTo hands the writer *io.LimitedReaders over the *os.File, the shape
// net/http and net.TCPConn recognise for sendfile, a step at a time. Large
// blobs are written around the page cache (see writeBehind), so a GET
// often reads from disk: before sending each step it asks for the next
// one (POSIX_FADV_WILLNEED), keeping the disk busy with a deep read while
// the socket drains, where the kernel's own read-ahead asks a few hundred
// kilobytes at a time.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	rf, ok := w.(io.ReaderFrom)
	if !ok {
		return io.Copy(w, struct{ io.Reader }{r})
	}
	var total int64
	fd := int(r.f.Fd())
	if r.r.N > readAheadStep {
		_ = unix.Fadvise(fd, r.off, min(r.r.N, 2*readAheadStep), unix.FADV_WILLNEED) // advisory
	}
	for r.r.N > 0 {
		step := min(r.r.N, readAheadStep)
		if ahead := r.r.N - step; ahead > readAheadStep {
			_ = unix.Fadvise(fd, r.off+2*readAheadStep, min(ahead-readAheadStep, readAheadStep), unix.FADV_WILLNEED)
		}
		part := io.LimitedReader{R: r.f, N: step}
		n, err := rf.ReadFrom(&part)
		r.off += n
		r.r.N -= n
		total += n
		if err != nil || n < step {
			return total, err
		}
	}
	return total, nil
}

// Prefetch asks the kernel to start reading the first bytes of the range
// from disk, as WriteTo will when it starts.
func (r *Reader) Prefetch() {
	if r.r.N <= 0 {
		return // a length of 0 would mean to the end of the file
	}
	_ = unix.Fadvise(int(r.f.Fd()), r.off, min(r.r.N, 2*readAheadStep), unix.FADV_WILLNEED) // advisory
}

// Close releases the blob.
func (r *Reader) Close() error { return r.f.Close() }

// Open returns length bytes of blob id from offset (length < 0: to the
// end). A missing blob is errs.NotExist. The reader is a *Reader, whose
// WriteTo lets io.Copy to a socket use sendfile; callers need only
// io.ReadCloser, so other backends can return their own readers.
func (s *Store) Open(ctx context.Context, id string, offset, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, errs.E(errs.Internal, "malformed blob id %q", id)
	}
	f, err := os.Open(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errs.Wrap(errs.NotExist, "blob not found", err)
	}
	if err != nil {
		return nil, ioErr("open blob", err)
	}
	if length < 0 {
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, ioErr("stat blob", err)
		}
		length = max(st.Size()-offset, 0)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, ioErr("seek blob", err)
	}
	return &Reader{f: f, off: offset, r: io.LimitedReader{R: f, N: length}}, nil
}

// Delete removes a blob; a blob already gone is not an error, so deletes
// can be retried after a crash.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !validID(id) {
		return errs.E(errs.Internal, "malformed blob id %q", id)
	}
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ioErr("delete blob", err)
	}
	return nil
}

// Concat writes a new blob holding the given blobs back to back, streaming
// (copy_file_range where the kernel offers it) rather than reading them
// into memory. The sources are left alone; the caller deletes them once the
// metadata points at the new blob. MD5 is not computed: the caller copies
// an object whose ETag it already has. Copies use it; completing a
// multipart upload does not (the object's manifest names its parts).
func (s *Store) Concat(ctx context.Context, ids []string) (Blob, error) {
	id, t, err := s.newBlob()
	if err != nil {
		return Blob{}, err
	}
	defer t.discard()
	f := t.f
	var total int64
	for _, src := range ids {
		if err := ctx.Err(); err != nil {
			return Blob{}, err
		}
		if !validID(src) {
			return Blob{}, errs.E(errs.Internal, "malformed blob id %q", src)
		}
		in, err := os.Open(s.path(src))
		if errors.Is(err, fs.ErrNotExist) {
			return Blob{}, errs.Wrap(errs.NotExist, "part blob not found", err)
		}
		if err != nil {
			return Blob{}, ioErr("open part", err)
		}
		if fi, err := in.Stat(); err == nil {
			if err := s.reserve.Check(fi.Size()); err != nil {
				in.Close()
				return Blob{}, err
			}
		}
		n, err := io.Copy(f, in) // *os.File.ReadFrom: copy_file_range
		in.Close()
		if err != nil {
			return Blob{}, ioErr("copy part", err)
		}
		total += n
	}
	if err := s.install(t, id); err != nil {
		return Blob{}, err
	}
	return Blob{ID: id, Size: total}, nil
}

// LiveFunc reports which of ids are referenced by metadata (objects or
// multipart parts); GC deletes the others.
type LiveFunc func(ctx context.Context, ids []string) (live map[string]bool, err error)

// GC removes temp files and unreferenced blobs last modified before
// cutoff. Run it at start with cutoff = now: nothing is in flight then, and
// what a crash left behind (temp files, blobs written but never committed,
// blobs whose delete was lost) goes. The cutoff protects blobs written
// between the metadata snapshot and the removal when run later.
func (s *Store) GC(ctx context.Context, cutoff time.Time, live LiveFunc) (removed int, err error) {
	tmps, err := os.ReadDir(filepath.Join(s.dir, "tmp"))
	if err != nil {
		return 0, ioErr("list temp files", err)
	}
	for _, e := range tmps {
		if old(e, cutoff) {
			if err := os.Remove(filepath.Join(s.dir, "tmp", e.Name())); err == nil {
				removed++
			}
		}
	}
	shards, err := os.ReadDir(filepath.Join(s.dir, "blobs"))
	if err != nil {
		return removed, ioErr("list shards", err)
	}
	for _, sh := range shards {
		if !sh.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(s.dir, "blobs", sh.Name()))
		if err != nil {
			return removed, ioErr("list shard", err)
		}
		var ids []string
		for _, e := range entries {
			if validID(e.Name()) && old(e, cutoff) {
				ids = append(ids, e.Name())
			}
		}
		for len(ids) > 0 {
			batch := ids[:min(len(ids), 500)]
			ids = ids[len(batch):]
			alive, err := live(ctx, batch)
			if err != nil {
				return removed, fmt.Errorf("objectstore: gc: %w", err)
			}
			for _, id := range batch {
				if !alive[id] {
					if err := s.Delete(ctx, id); err != nil {
						return removed, err
					}
					removed++
				}
			}
		}
	}
	if removed > 0 {
		s.log.Info("objectstore: collected orphans", "removed", removed)
	}
	return removed, nil
}

func old(e fs.DirEntry, cutoff time.Time) bool {
	info, err := e.Info()
	return err == nil && info.ModTime().Before(cutoff)
}
