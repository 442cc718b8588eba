// Package nfs serves filesystem volumes over NFSv3 (RFC 1813) with the
// MOUNT protocol on the same TCP port. An export is named by an
// unguessable attachment name; its file handles carry that name, so a
// handle stops working the moment the attachment is revoked.
//
// It decides what a call may do as a normal NFS server does: an export
// serves only the client addresses its Resolver names, every call is
// checked against the caller's AUTH_UNIX identity by the files' mode
// bits, and root is squashed to nobody unless the export allows root.
// It also keeps a hostile client from exhausting the node: records are
// read as their bytes arrive up to a hard size, connections are bounded
// per address and in total, and a connection that has not named a usable
// export is closed at the header timeout. Quotas, the inode limit and the
// disk reserve belong to the volume's FS (filestore on the node's disk,
// cephfs on CephFS); which names exist and for whom, to the Resolver's
// owner.
package nfs

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"
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

// Resolver says what an export name serves. Any error means the name
// does not exist.
type Resolver interface {
	Resolve(ctx context.Context, name string) (Export, error)
}

// Export is what an export name serves, and to whom.
type Export struct {
	Volume FS
	// Clients are the addresses that may use the export: those of the
	// instance it is attached to. With none, only clients on the node
	// itself (loopback) may.
	Clients []netip.Prefix
	// AllowRoot keeps AUTH_UNIX uid 0 as root instead of squashing it
	// to nobody.
	AllowRoot bool
	// Counter, when set, counts the bytes READ and WRITE move (usage
	// metering); one call per READ or WRITE.
	Counter IOCounter
}

// IOCounter counts bytes read and written.
type IOCounter interface {
	CountIO(read, written int64)
}

// Options configure a Server.
type Options struct {
	Logger *slog.Logger
	// IdleTimeout closes a connection that sends no call for this long
	// (default 6 minutes, as Linux's server does); clients reconnect.
	IdleTimeout time.Duration
	// HeaderTimeout (default 10 s) bounds how long a connection may stay
	// without naming an export it may use, and how long the rest of a
	// record may take once its first byte has arrived, so that clients
	// which connect and say nothing, or trickle a record, cannot hold
	// connections.
	HeaderTimeout time.Duration
	// MaxConns bounds the connections served at once (default 1024) and
	// MaxConnsPerAddr those from one client address (default 32; a
	// client host uses one, or a few with nconnect). Connections beyond
	// either are closed as they are accepted.
	MaxConns        int
	MaxConnsPerAddr int
}

// Server is an NFSv3 + MOUNTv3 server.
type Server struct {
	res  Resolver
	log  *slog.Logger
	o    Options
	verf [8]byte // changes per start, so clients resend uncommitted writes

	// chown says whether new files can be given to their callers (the
	// server runs as root); euid and egid are its own identity.
	chown      bool
	euid, egid int

	mu    sync.Mutex
	cache map[string]cached
	conns int
	peers map[netip.Addr]int
}

type cached struct {
	ex Export
	at time.Time
}

// NewServer returns a server resolving exports through res.
func NewServer(res Resolver, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 6 * time.Minute
	}
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = 10 * time.Second
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 1024
	}
	if o.MaxConnsPerAddr <= 0 {
		o.MaxConnsPerAddr = 32
	}
	s := &Server{res: res, log: o.Logger, o: o, cache: map[string]cached{}, peers: map[netip.Addr]int{},
		euid: os.Geteuid(), egid: os.Getegid()}
	s.chown = s.euid == 0
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
		peer, ok := s.admit(nc)
		if !ok {
			s.log.Debug("nfs connection refused: too many connections", "remote", nc.RemoteAddr().String())
			nc.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.release(peer)
			s.serveConn(ctx, nc, peer)
		}()
	}
}

// admit counts a new connection against the limits, or says it is one
// too many.
func (s *Server) admit(nc net.Conn) (netip.Addr, bool) {
	peer := peerAddr(nc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns >= s.o.MaxConns || s.peers[peer] >= s.o.MaxConnsPerAddr {
		return peer, false
	}
	s.conns++
	s.peers[peer]++
	return peer, true
}

func (s *Server) release(peer netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns--
	if s.peers[peer]--; s.peers[peer] <= 0 {
		delete(s.peers, peer)
	}
}

// peerAddr is the client's address, IPv4-mapped IPv6 unmapped so that
// one host counts once; the zero Addr when the transport has none.
func peerAddr(nc net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// Revoke forgets an export at once; its handles answer NFS3ERR_STALE.
func (s *Server) Revoke(ctx context.Context, name string) {
	s.mu.Lock()
	delete(s.cache, name)
	s.mu.Unlock()
}

// RevokeAll forgets every resolved export, for a node that may have missed
// revocations: each is resolved again on its next use.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
}

func (s *Server) resolve(ctx context.Context, name string) (Export, error) {
	s.mu.Lock()
	c, ok := s.cache[name]
	s.mu.Unlock()
	if ok && time.Since(c.at) < recheck {
		return c.ex, nil
	}
	ex, err := s.res.Resolve(ctx, name)
	if err != nil {
		s.Revoke(ctx, name)
		return Export{}, err
	}
	s.mu.Lock()
	s.cache[name] = cached{ex: ex, at: time.Now()}
	s.mu.Unlock()
	return ex, nil
}

// errNotYours is an export the caller's address may not use.
var errNotYours = errors.New("nfs: export not open to this client address")

// export resolves name for call c: the export, if the client's address
// may use it, after which the connection is trusted.
func (s *Server) export(ctx context.Context, c *call, name string) (Export, error) {
	ex, err := s.resolve(ctx, name)
	if err != nil {
		return Export{}, err
	}
	if !clientAllowed(ex, c.peer) {
		return Export{}, errNotYours
	}
	c.conn.trust()
	return ex, nil
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

// conn is one client connection. Replies are whole records, written
// under wmu so that concurrent calls never interleave.
type conn struct {
	nc   net.Conn
	peer netip.Addr
	wmu  sync.Mutex

	// dmu orders read deadlines with trust: until a call has named an
	// export this client may use, the connection lives at most
	// HeaderTimeout from its accept (untrustedUntil).
	dmu            sync.Mutex
	trusted        bool
	untrustedUntil time.Time
	idle           time.Duration
}

// trust lifts the accept deadline once the client has shown it may use
// an export; it may be waiting for its next call already.
func (c *conn) trust() {
	if c == nil {
		return
	}
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if !c.trusted {
		c.trusted = true
		_ = c.nc.SetReadDeadline(time.Now().Add(c.idle))
	}
}

// deadline sets the read deadline to t, or to the accept deadline while
// the connection is not trusted.
func (c *conn) deadline(t time.Time) {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if !c.trusted {
		t = c.untrustedUntil
	}
	_ = c.nc.SetReadDeadline(t)
}

func (c *conn) send(rec []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, _ = c.nc.Write(rec)
}

// recvBuf is small: a record body larger than it is read straight into
// the record, so an idle connection holds only this much.
const recvBuf = 4 << 10

func (s *Server) serveConn(ctx context.Context, nc net.Conn, peer netip.Addr) {
	defer nc.Close()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(cctx, func() { nc.Close() })
	defer stop()
	c := &conn{nc: nc, peer: peer, untrustedUntil: time.Now().Add(s.o.HeaderTimeout), idle: s.o.IdleTimeout}
	br := bufio.NewReaderSize(nc, recvBuf)
	sem := make(chan struct{}, perConn)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		// Wait up to the idle timeout for a record to begin, then give
		// its whole body the header timeout.
		c.deadline(time.Now().Add(s.o.IdleTimeout))
		if _, err := br.Peek(1); err != nil {
			s.ended(cctx, nc, err)
			return
		}
		c.deadline(time.Now().Add(s.o.HeaderTimeout))
		rec, err := readRecord(br)
		if err != nil {
			s.ended(cctx, nc, err)
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
		cl.conn, cl.peer = c, peer
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.send(s.dispatchSafely(cctx, &cl).record())
		}()
	}
}

func (s *Server) ended(ctx context.Context, nc net.Conn, err error) {
	if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
		s.log.Debug("nfs connection ends", "remote", nc.RemoteAddr().String(), "err", err.Error())
	}
}

// dispatchSafely answers SYSTEM_ERR to a call that panics: a bug in one
// procedure costs that call, not every client of the node.
func (s *Server) dispatchSafely(ctx context.Context, c *call) (w *writer) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("nfs call panicked", "prog", c.prog, "proc", c.proc, "panic", p, "stack", string(debug.Stack()))
			w = acceptedReply(c.xid, acceptSystemErr)
		}
	}()
	return s.dispatch(ctx, c)
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
	mnt3Acces  = 13
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
		fh, st := s.mnt(ctx, c, p)
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

// mnt resolves "/EXPORT[/sub/dir]" to a directory handle, searching
// each directory on the way as the caller.
func (s *Server) mnt(ctx context.Context, c *call, p string) ([]byte, uint32) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	id, ok := exportID(parts[0])
	if !ok {
		return nil, mnt3NoEnt
	}
	ex, err := s.export(ctx, c, parts[0])
	if errors.Is(err, errNotYours) {
		return nil, mnt3Acces
	}
	if err != nil {
		return nil, mnt3NoEnt
	}
	v, who := ex.Volume, s.credOf(c, ex)
	ino := v.Root()
	for _, name := range parts[1:] {
		if name == "" {
			continue
		}
		dir, err := v.Stat(ctx, ino)
		if err != nil {
			return nil, mnt3NoEnt
		}
		if !who.may(&dir, mayExec) {
			return nil, mnt3Acces
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
