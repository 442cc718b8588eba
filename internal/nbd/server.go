// Package nbd owns the NBD protocol: a server for the fixed newstyle
// handshake and the transmission phase over any net.Listener, written from
// the protocol document. It serves whatever a Resolver hands it; it does not
// know about pools, volumes, users or which names should be visible to
// whom. That policy belongs to the Resolver's owner (the volume service).
//
// Each connection reads requests in one goroutine and serves up to
// Options.MaxInFlight of them concurrently, replying in completion order
// under one write lock, as the protocol allows. FLUSH covers every write
// replied to before it arrived; since exports commit pool-wide state on
// flush the server advertises CAN_MULTI_CONN.
package nbd

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/stowage/stowage/internal/errs"
)

// Export is one block device as the server needs it. Methods are called
// concurrently. Ranges are validated against the size announced at
// handshake before they reach the export.
type Export interface {
	Size() int64
	ReadOnly() bool
	ReadAt(ctx context.Context, b []byte, off int64) error
	WriteAt(ctx context.Context, b []byte, off int64) error
	// Flush makes every write that completed before the call durable.
	Flush(ctx context.Context) error
	// Trim may discard the range; reads may return zeros or old data.
	Trim(ctx context.Context, off, length int64) error
	// Zero makes the range read as zeros; noHole asks to keep it
	// allocated. It must be fast: the server advertises FAST_ZERO.
	Zero(ctx context.Context, off, length int64, noHole bool) error
	// Allocated reports whether the byte at off is allocated, and for how
	// many bytes from off (at least 1, at most length) that stays so.
	// Unallocated bytes must read as zeros; BLOCK_STATUS reports them as
	// holes. An export that cannot tell answers (length, true, nil).
	Allocated(ctx context.Context, off, length int64) (int64, bool, error)
}

// AsyncExport is an Export that can also start a read or write and be
// told when it ends, so that a request in flight needs no goroutine
// waiting for it: the request loop starts it and its completion replies.
// The export calls to.Done(tag, err) once per request, on any goroutine
// (for RBD, the one that reaps librbd's completions), possibly before the
// call returns; after one or more Dones, and before that goroutine waits
// for anything, it calls to.Flush on the same goroutine. Done queues the
// reply and Flush sends what is queued, so a batch of completions costs
// one write. Neither blocks. A tag is below Options.MaxInFlight, which
// is below 1<<31: an export that wraps another may carry bits of its own
// in the tag's upper half and clear them before it tells to.
type AsyncExport interface {
	Export
	ReadAtAsync(b []byte, off int64, to Completer, tag uint64)
	WriteAtAsync(b []byte, off int64, to Completer, tag uint64)
}

// Completer is told when the requests an AsyncExport started end. It is
// an alias of an unnamed interface so that an export can implement
// AsyncExport without importing this package.
type Completer = interface {
	Done(tag uint64, err error)
	Flush()
}

// Resolver decides which exports exist for a connection. Resolve returns
// an error of kind errs.NotExist for unknown names and errs.Permission for
// names the client may not use. If the Export also implements io.Closer,
// the server closes it when the client is done with it.
type Resolver interface {
	Resolve(ctx context.Context, name string) (Export, error)
	List(ctx context.Context) ([]string, error)
}

// Options tune a Server. The zero value is usable.
type Options struct {
	// MaxInFlight bounds concurrent requests per connection; 64 if zero,
	// at most 1<<31-1 (see AsyncExport).
	MaxInFlight int
	// HandshakeTimeout bounds option negotiation; 30 s if zero.
	HandshakeTimeout time.Duration
	// Logger receives connection-level problems; slog.Default() if nil.
	Logger *slog.Logger
	// TLS, when set, is offered with NBD_OPT_STARTTLS; RequireTLS refuses
	// every other option (NBD_REP_ERR_TLS_REQD) until the client used it.
	TLS        *tls.Config
	RequireTLS bool
}

// Server serves NBD exports found through a Resolver.
type Server struct {
	r    Resolver
	opts Options
	log  *slog.Logger
	bufs bufPool
}

// NewServer returns a server over r.
func NewServer(r Resolver, opts Options) *Server {
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 64
	}
	opts.MaxInFlight = min(opts.MaxInFlight, 1<<31-1)
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Server{r: r, opts: opts, log: log}
}

// Serve accepts connections on ln until ctx is cancelled or ln fails. On
// cancellation it closes ln, stops reading new requests, lets requests in
// flight finish and reply, closes every connection and returns nil once
// all of its goroutines have stopped.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// If Accept fails for good, the connections are told to wind down
	// too, so that Serve never returns with goroutines still running.
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.ServeConn(ctx, nc)
		}()
	}
}

// ServeConn runs one client connection to completion and closes it.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	if tc, ok := nc.(*net.TCPConn); ok {
		// Room for a few 1 MiB replies and payloads in flight, so a large
		// reply is one write rather than a wait for the client to drain.
		tc.SetWriteBuffer(4 << 20)
		tc.SetReadBuffer(4 << 20)
	}
	// Cancellation unblocks whatever read is pending; the code after it
	// sees ctx.Err() and winds down.
	stop := context.AfterFunc(ctx, func() { nc.SetReadDeadline(time.Now()) })
	defer stop()
	c := &conn{s: s, nc: nc, ctx: ctx}
	exp, err := c.handshake()
	if err != nil {
		if !errors.Is(err, errClosed) && ctx.Err() == nil {
			s.log.Debug("nbd handshake ended", "remote", nc.RemoteAddr().String(), "err", err)
		}
		return
	}
	if cl, ok := exp.(io.Closer); ok {
		defer cl.Close()
	}
	if err := c.transmit(exp); err != nil && ctx.Err() == nil {
		s.log.Debug("nbd connection ended", "remote", nc.RemoteAddr().String(), "err", err)
	}
}

// errClosed marks a clean end: the client aborted or disconnected.
var errClosed = errors.New("client closed the connection")

// errno maps a domain error to the protocol's error values.
func errno(err error) uint32 {
	switch errs.KindOf(err) {
	case errs.Invalid:
		return errInval
	case errs.NoSpace, errs.Quota:
		return errNoSpc
	case errs.Permission, errs.Unauthorized:
		return errPerm
	case errs.Unavailable:
		return errShutdown
	}
	if errors.Is(err, context.Canceled) {
		return errShutdown
	}
	return errIO
}

// bufPool recycles payload buffers by power-of-two size class, so a busy
// connection does not allocate per request.
type bufPool struct {
	classes [26]sync.Pool // 1 B .. 32 MiB
}

func class(n int) int {
	c := 0
	for 1<<c < n {
		c++
	}
	return c
}

func (p *bufPool) get(n int) *[]byte {
	c := class(n)
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<c)
	return &b
}

func (p *bufPool) put(b *[]byte) {
	if c := class(cap(*b)); 1<<c == cap(*b) && c < len(p.classes) {
		p.classes[c].Put(b)
	}
}
