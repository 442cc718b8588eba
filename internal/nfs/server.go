// Package nfs serves filesystem volumes over NFSv3 (RFC 1813) with the
// MOUNT protocol on the same TCP port. An export is named by an
// unguessable attachment name; its file handles carry that name, so a
// handle stops working the moment the attachment is revoked.
package nfs

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/stowage/stowage/internal/filestore"
)

// ExportPrefix starts every NFS export name; the rest is 32 hex digits.
const ExportPrefix = "fs-"

const (
	progNFS   = 100003
	progMount = 100005

	// handleLen: 16 bytes of export name, 8 of file id.
	handleLen = 24

	// recheck is how long a resolved export is trusted before asking
	// the resolver again, so a detach made on another node takes effect.
	recheck = 2 * time.Second

	// perConn bounds the calls one connection runs at once.
	perConn = 16
)

// Resolver says which volume an export name serves. Any error means the
// name does not exist.
type Resolver interface {
	Resolve(ctx context.Context, name string) (*filestore.Volume, error)
}

// Options configure a Server.
type Options struct {
	Logger *slog.Logger
	// IdleTimeout closes a connection that sends no call for this long
	// (default 6 minutes, as Linux's server does); clients reconnect.
	IdleTimeout time.Duration
	// Squash maps every caller to the server's own identity instead of
	// applying the caller's AUTH_UNIX uid and gid to new files.
	Squash bool
}

// Server is an NFSv3 + MOUNTv3 server.
type Server struct {
	res  Resolver
	log  *slog.Logger
	o    Options
	verf [8]byte // changes per start, so clients resend uncommitted writes

	mu    sync.Mutex
	cache map[string]cached
	conns map[*conn]struct{}
}

type cached struct {
	vol *filestore.Volume
	at  time.Time
}

// NewServer returns a server resolving exports through res.
func NewServer(res Resolver, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 6 * time.Minute
	}
	s := &Server{res: res, log: o.Logger, o: o, cache: map[string]cached{}, conns: map[*conn]struct{}{}}
	_, _ = rand.Read(s.verf[:])
	return s
}

// Serve accepts connections until ctx ends, then closes them and waits.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, nc)
		}()
	}
}

// Revoke forgets an export at once; its handles answer NFS3ERR_STALE.
func (s *Server) Revoke(ctx context.Context, name string) {
	s.mu.Lock()
	delete(s.cache, name)
	s.mu.Unlock()
}

func (s *Server) volume(ctx context.Context, name string) (*filestore.Volume, error) {
	s.mu.Lock()
	c, ok := s.cache[name]
	s.mu.Unlock()
	if ok && time.Since(c.at) < recheck {
		return c.vol, nil
	}
	v, err := s.res.Resolve(ctx, name)
	if err != nil {
		s.Revoke(ctx, name)
		return nil, err
	}
	s.mu.Lock()
	s.cache[name] = cached{vol: v, at: time.Now()}
	s.mu.Unlock()
	return v, nil
}

// exportID turns an export name into the 16 bytes handles carry.
func exportID(name string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(name, ExportPrefix)
	if !ok || len(rest) != 32 {
		return nil, false
	}
	b, err := hex.DecodeString(rest)
	return b, err == nil
}

type conn struct {
	nc  net.Conn
	wmu sync.Mutex
	bw  *bufio.Writer
}

func (c *conn) send(rec []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.bw.Write(rec); err == nil {
		_ = c.bw.Flush()
	}
}

func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(cctx, func() { nc.Close() })
	defer stop()
	c := &conn{nc: nc, bw: bufio.NewWriterSize(nc, 64<<10)}
	br := bufio.NewReaderSize(nc, 64<<10)
	sem := make(chan struct{}, perConn)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		_ = nc.SetReadDeadline(time.Now().Add(s.o.IdleTimeout))
		rec, err := readRecord(br, nil)
		if err != nil {
			if cctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("nfs connection ends", "remote", nc.RemoteAddr().String(), "err", err.Error())
			}
			return
		}
		cl, ok, rejected := parseCall(rec)
		if !ok {
			continue
		}
		if rejected != nil {
			c.send(rejected.record())
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.send(s.dispatch(cctx, &cl).record())
		}()
	}
}

func (s *Server) dispatch(ctx context.Context, c *call) *writer {
	switch c.prog {
	case progMount:
		if c.vers != 3 {
			return mismatch(c.xid)
		}
		return s.mount(ctx, c)
	case progNFS:
		if c.vers != 3 {
			return mismatch(c.xid)
		}
		return s.nfs3(ctx, c)
	}
	return acceptedReply(c.xid, acceptProgUnavail)
}

func mismatch(xid uint32) *writer {
	w := acceptedReply(xid, acceptProgMismatch)
	w.u32(3)
	w.u32(3)
	return w
}

// MOUNT v3 procedures.
const (
	mntNull = iota
	mntMnt
	mntDump
	mntUmnt
	mntUmntAll
	mntExport
)

const (
	mnt3OK     = 0
	mnt3NoEnt  = 2
	mnt3NotDir = 20
	mnt3Inval  = 22
)

func (s *Server) mount(ctx context.Context, c *call) *writer {
	switch c.proc {
	case mntNull, mntUmnt, mntUmntAll:
		return acceptedReply(c.xid, acceptSuccess)
	case mntDump, mntExport:
		// Export names are capabilities: nothing is listed.
		w := acceptedReply(c.xid, acceptSuccess)
		w.bool(false)
		return w
	case mntMnt:
		p := c.args.string(1024)
		if c.args.err != nil {
			return acceptedReply(c.xid, acceptGarbageArgs)
		}
		w := acceptedReply(c.xid, acceptSuccess)
		fh, st := s.mnt(ctx, p)
		w.u32(st)
		if st == mnt3OK {
			w.opaque(fh)
			w.u32(1)
			w.u32(authUnix)
		}
		return w
	}
	return acceptedReply(c.xid, acceptProcUnavail)
}

// mnt resolves "/EXPORT[/sub/dir]" to a directory handle.
func (s *Server) mnt(ctx context.Context, p string) ([]byte, uint32) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	id, ok := exportID(parts[0])
	if !ok {
		return nil, mnt3NoEnt
	}
	v, err := s.volume(ctx, parts[0])
	if err != nil {
		return nil, mnt3NoEnt
	}
	ino := v.Root()
	for _, name := range parts[1:] {
		if name == "" {
			continue
		}
		st, err := v.Lookup(ctx, ino, name)
		if err != nil {
			return nil, mnt3NoEnt
		}
		if st.Mode&0o170000 != 0o040000 {
			return nil, mnt3NotDir
		}
		ino = st.Ino
	}
	return handle(id, ino), mnt3OK
}
