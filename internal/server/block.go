package server

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/core/metering"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/nbd"
)

// poolBackend adapts the local thin pool to the volume service's Backend.
type poolBackend struct{ p *blockstore.Pool }

func (b poolBackend) Create(ctx context.Context, id string, size int64) error {
	return b.p.Create(ctx, id, size)
}
func (b poolBackend) Snapshot(ctx context.Context, src, dst string) error {
	return b.p.Snapshot(ctx, src, dst)
}
func (b poolBackend) Clone(ctx context.Context, src, dst string) error {
	return b.p.Clone(ctx, src, dst)
}
func (b poolBackend) Grow(ctx context.Context, id string, size int64) error {
	return b.p.Grow(ctx, id, size)
}
func (b poolBackend) Delete(ctx context.Context, id string) error { return b.p.Delete(ctx, id) }

// Write streams r into the volume (see streamInto).
func (b poolBackend) Write(ctx context.Context, id string, off int64, r io.Reader) (int64, error) {
	h, err := b.p.Volume(ctx, id)
	if err != nil {
		return 0, err
	}
	return streamInto(ctx, h, off, r)
}

// volumeWriter is what an upload needs of an open volume.
type volumeWriter interface {
	WriteAt(ctx context.Context, b []byte, off int64) error
	Flush(ctx context.Context) error
}

// streamInto writes r into h from off a buffer at a time, so an upload of
// any size holds one buffer, and flushes before it counts the bytes as
// written.
func streamInto(ctx context.Context, h volumeWriter, off int64, r io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, rerr := io.ReadFull(r, buf)
		if k > 0 {
			if err := h.WriteAt(ctx, buf[:k], off+n); err != nil {
				return n, err
			}
			n += int64(k)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return n, rerr
		}
	}
	return n, h.Flush(ctx)
}

func (b poolBackend) Usage(ctx context.Context, id string) (int64, int64, error) {
	st, err := b.p.Stat(ctx, id)
	return st.Allocated, st.Exclusive, err
}

// blockVolume is one volume's data as an NBD export serves it.
type blockVolume interface {
	nbd.Export
	Close() error
}

// blockData opens volumes for NBD exports: the local thin pool, or RBD in
// a binary built with the ceph tag.
type blockData interface {
	Volume(ctx context.Context, id string) (blockVolume, error)
}

// poolData opens volumes of the local thin pool, whose handles need no
// closing.
type poolData struct{ p *blockstore.Pool }

func (d poolData) Volume(ctx context.Context, id string) (blockVolume, error) {
	v, err := d.p.Volume(ctx, id)
	if err != nil {
		return nil, err
	}
	return poolVolume{v}, nil
}

type poolVolume struct{ *blockstore.Volume }

func (poolVolume) Close() error { return nil }

// exports is the NBD resolver: the volume service decides which names
// exist (attachments in state attached); exports tracks the connections
// using each name so that Revoke can cut them off.
type exports struct {
	vols *volume.Service
	data blockData
	mu   sync.Mutex
	live map[string]map[*connHandle]struct{}
	// qos holds one limiter per export name in use, shared by its
	// connections so that opening more connections does not raise the limit.
	qos map[string]*limiter
	// counters count the bytes each export moves, for usage metering.
	counters *metering.Counters
}

// limiter returns the export's shared limiter, made on first use; the
// caller holds no lock.
func (x *exports) limiter(name string, iops, mibps int) *limiter {
	x.mu.Lock()
	defer x.mu.Unlock()
	l, ok := x.qos[name]
	if !ok {
		l = newLimiter(iops, mibps)
		x.qos[name] = l
	}
	return l
}

func newExports(data blockData, counters *metering.Counters) *exports {
	return &exports{data: data, live: map[string]map[*connHandle]struct{}{}, qos: map[string]*limiter{}, counters: counters}
}

// connHandle is one NBD client connection; cancelling it makes the NBD
// server stop reading requests and close the connection.
type connHandle struct {
	cancel  context.CancelFunc
	revoked atomic.Bool
}

type connKey struct{}

var errNoSuchExport = errs.E(errs.NotExist, "no such export")

// Resolve answers only names of current attachments; every failure looks
// the same to the client so names cannot be probed.
func (x *exports) Resolve(ctx context.Context, name string) (nbd.Export, error) {
	h, _ := ctx.Value(connKey{}).(*connHandle)
	if h == nil {
		return nil, errNoSuchExport
	}
	e, err := x.vols.ResolveExport(ctx, name)
	if err != nil || e.Kind != volume.KindBlock {
		return nil, errNoSuchExport
	}
	v, err := x.data.Volume(ctx, e.BackendID)
	if err != nil {
		return nil, errNoSuchExport
	}
	x.mu.Lock()
	if x.live[name] == nil {
		x.live[name] = map[*connHandle]struct{}{}
	}
	x.live[name][h] = struct{}{}
	x.mu.Unlock()
	ex := &export{blockVolume: v, x: x, name: name, h: h, readOnly: e.ReadOnly || v.ReadOnly(), qos: x.limiter(name, e.IOPS, e.MBps),
		io: x.counters.Block(e.ResourceID)}
	// A detach that committed between the lookup and the registration
	// above may have revoked before this connection was listed; look again.
	if _, err := x.vols.ResolveExport(ctx, name); err != nil {
		ex.Close()
		return nil, errNoSuchExport
	}
	return ex.withFastPaths(), nil
}

// List shows nothing: export names are capabilities, not a directory.
func (x *exports) List(ctx context.Context) ([]string, error) { return nil, nil }

// Revoke disconnects every client of name.
func (x *exports) Revoke(ctx context.Context, name string) {
	x.mu.Lock()
	hs := x.live[name]
	delete(x.live, name)
	delete(x.qos, name)
	x.mu.Unlock()
	for h := range hs {
		h.revoked.Store(true)
		h.cancel()
	}
}

// export serves one attachment to one connection.
type export struct {
	blockVolume
	x        *exports
	name     string
	h        *connHandle
	readOnly bool
	qos      *limiter
	io       *metering.IOCell
	once     sync.Once
}

var errRevoked = errs.E(errs.Unavailable, "the export was revoked")

func (e *export) ReadOnly() bool { return e.readOnly }

func (e *export) ReadAt(ctx context.Context, b []byte, off int64) error {
	if e.h.revoked.Load() {
		return errRevoked
	}
	if err := e.qos.wait(ctx, int64(len(b))); err != nil {
		return err
	}
	err := e.blockVolume.ReadAt(ctx, b, off)
	if err == nil {
		e.io.CountIO(int64(len(b)), 0)
	}
	return err
}

func (e *export) WriteAt(ctx context.Context, b []byte, off int64) error {
	if e.h.revoked.Load() {
		return errRevoked
	}
	if e.readOnly {
		return errs.E(errs.Permission, "read-only export")
	}
	if err := e.qos.wait(ctx, int64(len(b))); err != nil {
		return err
	}
	err := e.blockVolume.WriteAt(ctx, b, off)
	if err == nil {
		e.io.CountIO(0, int64(len(b)))
	}
	return err
}

// localVolume is a volume of the local pool, whose reads the NBD request
// loop serves itself when the data is cached (see nbd's localReader and
// cachedReader).
type localVolume interface {
	LocalReads() bool
	TryReadAt(b []byte, off int64) bool
	ViewAt(off int64, n int, send func(views [][]byte)) bool
}

// asyncVolume is a volume (RBD) whose reads and writes the NBD request
// loop starts without a goroutine waiting for each (nbd.AsyncExport).
type asyncVolume interface {
	ReadAtAsync(b []byte, off int64, to nbd.Completer, tag uint64)
	WriteAtAsync(b []byte, off int64, to nbd.Completer, tag uint64)
}

// withFastPaths returns the export with the paths of its volume that the
// NBD server finds by type assertion and the export struct alone hides:
// without them every request of every client took a goroutine of its own,
// and the paths bench/nbd measures on a bare volume were not the ones
// clients got. The volume type's QoS limits hold on these paths too; a
// request they hold back waits on a goroutine (a timer) of its own, never
// in the request loop.
func (e *export) withFastPaths() nbd.Export {
	switch v := e.blockVolume.(type) {
	case localVolume:
		return localExport{e, v}
	case asyncVolume:
		return asyncExport{e, v, &meter{io: e.io}}
	}
	return e
}

// The NBD server finds these paths by type assertion, so a signature that
// drifts would silently drop every client to the plain path.
var (
	_ localVolume     = poolVolume{}
	_ nbd.AsyncExport = asyncExport{}
)

// localExport is an export of a local pool volume.
type localExport struct {
	*export
	v localVolume
}

// LocalReads lets the request loop read a sequential stream itself, which
// it does through ReadAt: with a QoS limit that could wait in the loop, so
// such an export's reads go through TryReadAt instead.
func (e localExport) LocalReads() bool { return e.qos == nil && e.v.LocalReads() }

// TryReadAt leaves to ReadAt, which waits or reports it, a read the QoS
// limit holds back and a revoked export's reads.
func (e localExport) TryReadAt(b []byte, off int64) bool {
	return e.cached(int64(len(b)), func() bool { return e.v.TryReadAt(b, off) })
}

// ViewAt is TryReadAt for the request loop's sends from the page cache.
func (e localExport) ViewAt(off int64, n int, send func(views [][]byte)) bool {
	return e.cached(int64(n), func() bool { return e.v.ViewAt(off, n, send) })
}

// cached runs read, a read of n bytes the request loop serves itself
// unless the export is revoked or the QoS limit holds it back, and if it
// succeeded takes it from the limit and counts it.
func (e localExport) cached(n int64, read func() bool) bool {
	if e.h.revoked.Load() || !e.qos.ready(n) || !read() {
		return false
	}
	// Another connection to the export may have taken the tokens since
	// ready: this then leaves a small debt, which the next request waits
	// out, as with any request the limiter lends to.
	e.qos.reserve(n)
	e.io.CountIO(n, 0)
	return true
}

// asyncExport is an export of an RBD image. It counts a request's bytes
// when the volume says the request ended, through m, which stands between
// the volume and the connection's completer.
type asyncExport struct {
	*export
	v asyncVolume
	m *meter
}

// ReadAtAsync starts the read at once or, when the QoS limit holds it
// back, on a timer's goroutine once it may go on.
func (e asyncExport) ReadAtAsync(b []byte, off int64, to nbd.Completer, tag uint64) {
	if d := e.qos.reserve(int64(len(b))); d > 0 {
		time.AfterFunc(d, func() { e.read(b, off, to, tag) })
		return
	}
	e.read(b, off, to, tag)
}

// WriteAtAsync is ReadAtAsync for a write.
func (e asyncExport) WriteAtAsync(b []byte, off int64, to nbd.Completer, tag uint64) {
	if d := e.qos.reserve(int64(len(b))); d > 0 {
		time.AfterFunc(d, func() { e.write(b, off, to, tag) })
		return
	}
	e.write(b, off, to, tag)
}

func (e asyncExport) read(b []byte, off int64, to nbd.Completer, tag uint64) {
	if e.h.revoked.Load() {
		to.Done(tag, errRevoked)
		to.Flush()
		return
	}
	e.v.ReadAtAsync(b, off, e.m.bind(to), meterTag(tag, len(b), false))
}

func (e asyncExport) write(b []byte, off int64, to nbd.Completer, tag uint64) {
	var err error
	switch {
	case e.h.revoked.Load():
		err = errRevoked
	case e.readOnly:
		err = errs.E(errs.Permission, "read-only export")
	default:
		e.v.WriteAtAsync(b, off, e.m.bind(to), meterTag(tag, len(b), true))
		return
	}
	to.Done(tag, err)
	to.Flush()
}

// meter is the completer an asyncExport gives its volume: it counts the
// bytes of each request that succeeded, then tells the connection's
// completer. The request's length and direction ride in the tag, above
// the connection's own tag (nbd keeps its tags below 1<<31), so metering
// costs no allocation or lookup per request, and one meter serves the
// whole connection, keeping a batch of completions one write.
type meter struct {
	io   *metering.IOCell
	once sync.Once
	to   nbd.Completer
}

const (
	meterWrite = 1 << 32 // the tag's bit for a write
	meterShift = 33      // where the tag holds the request's length
)

func meterTag(tag uint64, n int, write bool) uint64 {
	t := tag | uint64(n)<<meterShift
	if write {
		t |= meterWrite
	}
	return t
}

// bind returns m for the connection's completer to. An export serves one
// connection, whose request loop is the only caller.
func (m *meter) bind(to nbd.Completer) *meter {
	m.once.Do(func() { m.to = to })
	return m
}

func (m *meter) Done(tag uint64, err error) {
	if err == nil {
		n := int64(tag >> meterShift)
		if tag&meterWrite != 0 {
			m.io.CountIO(0, n)
		} else {
			m.io.CountIO(n, 0)
		}
	}
	m.to.Done(tag&(meterWrite-1), err)
}

func (m *meter) Flush() { m.to.Flush() }

func (e *export) Close() error {
	var err error
	e.once.Do(func() {
		err = e.blockVolume.Close()
		e.x.mu.Lock()
		if m := e.x.live[e.name]; m != nil {
			delete(m, e.h)
			if len(m) == 0 {
				delete(e.x.live, e.name)
				delete(e.x.qos, e.name)
			}
		}
		e.x.mu.Unlock()
	})
	return err
}

// serveNBD accepts NBD clients until ctx ends, giving each connection its
// own cancellable context so Revoke can end it, and waits for them all.
// Connections over the cap are closed at once. (The connection itself goes to
// the NBD server unwrapped: it tunes a *net.TCPConn's buffers.)
func serveNBD(ctx context.Context, ln net.Listener, srv *nbd.Server, conns *connCap) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		release, ok := conns.admit(nc)
		if !ok {
			nc.Close()
			continue
		}
		cctx, cancel := context.WithCancel(ctx)
		h := &connHandle{cancel: cancel}
		cctx = context.WithValue(cctx, connKey{}, h)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer release()
			defer cancel()
			srv.ServeConn(cctx, nc)
		}()
	}
}
