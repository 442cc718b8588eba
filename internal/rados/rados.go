//go:build ceph

// Package rados keeps S3 object bodies in a Ceph RADOS pool, behind the
// same methods as the local object store (Put, Open, Delete, Concat), so
// that every node of a cluster serves one set of objects.
//
// A blob is striped into RADOS objects of 4 MiB, as radosgw does: the head
// object is named by the blob id and carries the first stripe and, as an
// xattr, the blob's size; stripe n > 0 is "<id>.<n>". Stripes, the head's
// first, are written as the body streams in, several in flight, and the
// size goes last, once every stripe is written, so a head with a size
// names a whole blob; no body is ever whole in memory. A ranged read fetches only the stripes it
// covers and reads ahead while the caller consumes the current one.
// Bodies of at most PutOptions.InlineMax bytes are handed back inline, as
// the local store does. Multipart objects are read through
// objectstore.OpenManifest, the one manifest reader of every backend,
// which hands their parts to OpenSpans as one stream.
package rados

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/rados"
	"github.com/google/uuid"

	"github.com/stowage/stowage/internal/cephconn"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/objectstore"
)

// StripeSize is the size of every RADOS object of a blob but its last.
const StripeSize = 4 << 20

// sizeXattr holds a blob's size on its head object.
const sizeXattr = "stowage.size"

// Options locate the cluster and the pool and tune the store.
type Options struct {
	// Conf is the path of ceph.conf; the user's keyring is found through it.
	Conf string
	// User is the cephx user, as client.NAME or NAME.
	User string
	// Pool is the RADOS pool that holds the bodies.
	Pool string
	// Namespace, when set, keeps this store's objects apart from others
	// in the same pool (tests sharing one cluster each take their own).
	Namespace string
	// InFlight is how many stripes a PUT writes at once (default 8); a
	// GET reads ahead half as many.
	InFlight int
	// Intents, when set, records every blob before its first byte is
	// written (see Intents).
	Intents Intents
	Logger  *slog.Logger // nil discards
}

// Intents records the blobs being written, so that a crash between the
// first byte and the metadata commit leaves a row naming the RADOS objects
// to remove instead of objects no one can find without listing the pool.
// The commit that makes a blob an object's (or a part's) removes its row.
type Intents interface {
	BeginBlob(ctx context.Context, id string) error
}

// Store is the object bodies of one RADOS pool. It is safe for concurrent
// use.
type Store struct {
	conn     *rados.Conn
	io       *rados.IOContext
	pool     string
	inFlight int
	intents  Intents
	log      *slog.Logger
	// intentsRecorded counts the blobs it recorded intents for.
	intentsRecorded atomic.Int64
	// stripes recycles stripe buffers: a PUT holds at most InFlight+1 and
	// a GET 1+InFlight/2 of them.
	stripes sync.Pool
}

// Open connects to the cluster as o.User and opens o.Pool.
func Open(ctx context.Context, o Options) (*Store, error) {
	conn, ioctx, err := cephconn.Dial(ctx, o.Conf, o.User, o.Pool, nil)
	if err != nil {
		return nil, err
	}
	ioctx.SetNamespace(o.Namespace)
	s := &Store{conn: conn, io: ioctx, pool: o.Pool, inFlight: o.InFlight, intents: o.Intents, log: o.Logger}
	if s.inFlight <= 0 {
		// A 64 MiB body's 16 stripes go in two waves rather than four,
		// and a 16 MiB part's four with its head in one; the cost is
		// 4 MiB of buffer per stripe in flight.
		s.inFlight = 8
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.stripes.New = func() any { b := make([]byte, StripeSize); return &b }
	return s, nil
}

// Close drops the connection.
func (s *Store) Close() error {
	s.io.Destroy()
	s.conn.Shutdown()
	return nil
}

// stripeName is the RADOS object holding stripe n of blob id.
func stripeName(id string, n int64) string {
	if n == 0 {
		return id
	}
	return id + "." + strconv.FormatInt(n, 10)
}

// validID guards every object name built from an id: ids are ours.
func validID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && len(id) == 36 && u.String() == id
}

// radosErr tells a librados error in the service's terms.
func radosErr(what string, err error) error {
	err = fmt.Errorf("rados: %s: %w", what, err)
	var ce interface{ ErrorCode() int }
	if !errors.As(err, &ce) {
		return err
	}
	switch syscall.Errno(max(ce.ErrorCode(), -ce.ErrorCode())) {
	case syscall.ENOENT:
		return errs.Wrap(errs.NotExist, "blob not found", err)
	case syscall.ENOSPC, syscall.EDQUOT:
		return errs.Wrap(errs.NoSpace, "the object pool is full", err)
	}
	return err
}

// Put streams r into a new blob, or returns it in Blob.Inline when it is
// no longer than o.InlineMax. Stripes, the head's first, are written as
// they fill, up to InFlight at once; the size goes on the head last. On
// any error the stripes written are removed (best effort; the intent row
// covers a crash).
func (s *Store) Put(ctx context.Context, r io.Reader, o objectstore.PutOptions) (objectstore.Blob, error) {
	body, err := objectstore.NewBody(r, o)
	if err != nil {
		return objectstore.Blob{}, err
	}
	if o.InlineMax > 0 && o.Limit > 0 && o.Limit <= int64(o.InlineMax) {
		// A body declared no longer than InlineMax is inline or too
		// large: it needs no stripe buffer, which after each GC is 4 MiB
		// to allocate and clear again, more than the rest of a 4 KiB PUT
		// costs this node.
		first, inline, err := body.Head(ctx, make([]byte, o.Limit+1))
		if err != nil {
			return objectstore.Blob{}, err
		}
		if !inline {
			return objectstore.Blob{}, fmt.Errorf("rados: a body within its %d-byte limit was %d bytes long", o.Limit, len(first))
		}
		return body.Blob(""), nil
	}
	head := s.stripes.Get().(*[]byte)
	first, inline, err := body.Head(ctx, *head)
	if err != nil || inline {
		s.stripes.Put(head)
		if err != nil {
			return objectstore.Blob{}, err
		}
		return body.Blob(""), nil
	}
	id, err := newID()
	if err != nil {
		s.stripes.Put(head)
		return objectstore.Blob{}, err
	}
	// The intent is recorded while the rest of the head stripe streams
	// in: no byte of the blob reaches RADOS before it is.
	intent := make(chan error, 1)
	go func() { intent <- s.recordIntent(ctx, id) }()
	k, ferr := body.Fill(ctx, (*head)[len(first):])
	err = <-intent
	if err == nil && s.intents != nil {
		s.intentsRecorded.Add(1)
	}
	if err != nil || ferr != nil && ferr != io.EOF {
		s.stripes.Put(head)
		return objectstore.Blob{}, cmp.Or(err, ferr)
	}
	touched := time.Now()
	w := s.newStriper(id)
	ok := false
	defer func() {
		if !ok {
			w.abort()
		}
	}()
	// Hand the head stripe to a writer, then the others, each as it
	// fills.
	headLen := len(first) + k
	if headLen > 0 {
		if err := w.write(ctx, 0, head, headLen); err != nil {
			return objectstore.Blob{}, err
		}
	} else {
		s.stripes.Put(head)
	}
	for n := int64(1); ferr == nil; n++ {
		buf := s.stripes.Get().(*[]byte)
		var k int
		k, ferr = body.Fill(ctx, *buf)
		if ferr != nil && ferr != io.EOF {
			s.stripes.Put(buf)
			break
		}
		if k == 0 {
			s.stripes.Put(buf)
			break
		}
		if err := w.write(ctx, n, buf, k); err != nil {
			return objectstore.Blob{}, err
		}
		if time.Since(touched) > intentRefresh {
			// A slow upload keeps its intent fresh, so the sweeper never
			// takes a blob still being written.
			if err := s.recordIntent(ctx, id); err != nil {
				return objectstore.Blob{}, err
			}
			touched = time.Now()
		}
	}
	if ferr != nil && ferr != io.EOF {
		return objectstore.Blob{}, ferr
	}
	if err := w.wait(); err != nil {
		return objectstore.Blob{}, err
	}
	b := body.Blob(id)
	op := rados.CreateWriteOp()
	defer op.Release()
	if headLen == 0 {
		op.Create(rados.CreateIdempotent) // an empty body: librados refuses an empty write
	}
	op.SetXattr(sizeXattr, []byte(strconv.FormatInt(b.Size, 10)))
	if err := op.Operate(s.io, id, rados.OperationNoFlag); err != nil {
		return objectstore.Blob{}, radosErr("write size", err)
	}
	ok = true
	return b, nil
}

// intentRefresh is how often a PUT still streaming renews its blob's
// intent; the sweeper's cutoff (an hour in the server) must be well above.
const intentRefresh = 10 * time.Minute

// recordIntent records (or renews) id's intent when the store keeps them.
func (s *Store) recordIntent(ctx context.Context, id string) error {
	if s.intents == nil {
		return nil
	}
	if err := s.intents.BeginBlob(ctx, id); err != nil {
		return fmt.Errorf("rados: record intent: %w", err)
	}
	return nil
}

// IntentsRecorded is how many blobs this store recorded intents for.
func (s *Store) IntentsRecorded() int64 { return s.intentsRecorded.Load() }

func newID() (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("rados: new id: %w", err)
	}
	return u.String(), nil
}

// striper writes the stripes of one blob, at most inFlight at once.
type striper struct {
	s     *Store
	id    string
	slots chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	err   error
	last  int64 // highest tail stripe handed out
}

func (s *Store) newStriper(id string) *striper {
	return &striper{s: s, id: id, slots: make(chan struct{}, s.inFlight)}
}

// write stores buf[:k] as stripe n in the background and returns buf to
// the pool when done; it waits for a free slot, and reports an earlier
// stripe's failure instead of starting more.
func (w *striper) write(ctx context.Context, n int64, buf *[]byte, k int) error {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		w.s.stripes.Put(buf)
		return fmt.Errorf("rados: write: %w", ctx.Err())
	}
	w.mu.Lock()
	err := w.err
	w.last = max(w.last, n)
	w.mu.Unlock()
	if err != nil {
		<-w.slots
		w.s.stripes.Put(buf)
		return err
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		err := w.s.io.WriteFull(stripeName(w.id, n), (*buf)[:k])
		w.s.stripes.Put(buf)
		<-w.slots
		if err != nil {
			w.mu.Lock()
			if w.err == nil {
				w.err = radosErr(fmt.Sprintf("write stripe %d", n), err)
			}
			w.mu.Unlock()
		}
	}()
	return nil
}

// wait returns once every stripe is written, with the first failure.
func (w *striper) wait() error {
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// abort removes what a failed PUT wrote.
func (w *striper) abort() {
	w.wg.Wait()
	for n := w.last; n >= 1; n-- {
		_ = w.s.io.Delete(stripeName(w.id, n))
	}
	_ = w.s.io.Delete(w.id)
}

// size reads a blob's size from its head; a missing head is
// errs.NotExist.
func (s *Store) size(id string) (int64, error) {
	var buf [24]byte
	k, err := s.io.GetXattr(id, sizeXattr, buf[:])
	if err != nil {
		return 0, radosErr("read size of "+id, err)
	}
	n, err := strconv.ParseInt(string(buf[:k]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("rados: size of %s: %w", id, err)
	}
	return n, nil
}

// Open returns length bytes of blob id from offset (length < 0: to the
// end). A missing blob is errs.NotExist.
func (s *Store) Open(ctx context.Context, id string, offset, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, errs.E(errs.Internal, "malformed blob id %q", id)
	}
	if length < 0 || offset == 0 {
		// The size is needed to find the end, and a read from the start
		// finds out here rather than mid-stream whether the blob exists.
		size, err := s.size(id)
		if err != nil {
			return nil, err
		}
		if length < 0 {
			length = max(size-offset, 0)
		}
		if offset+length > size {
			return nil, fmt.Errorf("rados: range %d+%d past the %d bytes of %s", offset, length, size, id)
		}
	}
	return newReader(ctx, s, []objectstore.Span{{ID: id, Offset: offset, Length: length}}), nil
}

// OpenSpans returns the spans of blobs back to back, reading ahead across
// the boundaries between them (objectstore.SpanOpener): the parts of a
// multipart object. As with Open, a first span from the start finds out
// here whether its blob exists; a later span's missing or short stripe is
// an error mid-stream.
func (s *Store) OpenSpans(ctx context.Context, spans []objectstore.Span) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, sp := range spans {
		if !validID(sp.ID) || sp.Offset < 0 || sp.Length < 0 {
			return nil, errs.E(errs.Internal, "malformed span %q %d+%d", sp.ID, sp.Offset, sp.Length)
		}
	}
	if len(spans) > 0 && spans[0].Offset == 0 {
		if _, err := s.size(spans[0].ID); err != nil {
			return nil, err
		}
	}
	return newReader(ctx, s, spans), nil
}

// Delete removes a blob: its tail stripes, then its head, so that a delete
// cut short is retried from a head that still names the size. A blob
// already gone is not an error.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !validID(id) {
		return errs.E(errs.Internal, "malformed blob id %q", id)
	}
	size, err := s.size(id)
	if errs.Is(err, errs.NotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for n := (size - 1) / StripeSize; n >= 1; n-- {
		if err := s.io.Delete(stripeName(id, n)); err != nil && !errors.Is(err, rados.ErrNotFound) {
			return radosErr("delete stripe", err)
		}
	}
	if err := s.io.Delete(id); err != nil && !errors.Is(err, rados.ErrNotFound) {
		return radosErr("delete head", err)
	}
	return nil
}

// Remove deletes whatever a blob that was never completed may have
// written (an intent's leftovers): its head has no size to go by, so tail
// stripes are removed until InFlight names in a row are missing (stripes
// are written at most InFlight at a time, so no later one can exist). It
// reports how many RADOS objects it removed.
func (s *Store) Remove(ctx context.Context, id string) (int, error) {
	if !validID(id) {
		return 0, errs.E(errs.Internal, "malformed blob id %q", id)
	}
	removed, missing := 0, 0
	for n := int64(1); missing < s.inFlight; n++ {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		err := s.io.Delete(stripeName(id, n))
		switch {
		case err == nil:
			removed, missing = removed+1, 0
		case errors.Is(err, rados.ErrNotFound):
			missing++
		default:
			return removed, radosErr("remove stripe", err)
		}
	}
	err := s.io.Delete(id)
	switch {
	case err == nil:
		removed++
	case !errors.Is(err, rados.ErrNotFound):
		return removed, radosErr("remove head", err)
	}
	return removed, nil
}

// Concat writes a new blob holding the given blobs back to back (a copy
// of an object, read through its manifest when it has one). Nothing is
// copied inside the cluster: the bytes stream through this node, striped
// as any PUT is.
func (s *Store) Concat(ctx context.Context, ids []string) (objectstore.Blob, error) {
	readers := make([]io.Reader, 0, len(ids))
	for _, id := range ids {
		rc, err := s.Open(ctx, id, 0, -1)
		if err != nil {
			return objectstore.Blob{}, err
		}
		defer rc.Close()
		readers = append(readers, rc)
	}
	b, err := s.Put(ctx, io.MultiReader(readers...), objectstore.PutOptions{})
	if err != nil {
		return objectstore.Blob{}, err
	}
	return objectstore.Blob{ID: b.ID, Size: b.Size}, nil
}

// PoolStats is what Ceph counts in the pool.
type PoolStats struct {
	Objects, Bytes int64
}

// PoolStats reads the pool's counters (all namespaces).
func (s *Store) PoolStats() (PoolStats, error) {
	st, err := s.io.GetPoolStats()
	if err != nil {
		return PoolStats{}, radosErr("pool stats", err)
	}
	return PoolStats{Objects: int64(st.Num_objects), Bytes: int64(st.Num_bytes)}, nil
}
