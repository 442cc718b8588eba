package nbd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/nbd"
)

// These tests speak the protocol byte by byte to reach the cases real
// clients never send: broken handshakes, oversized and out-of-range
// requests, and shutdown with requests in flight.

type rawClient struct {
	t  *testing.T
	nc net.Conn
}

func dial(t *testing.T, addr string, clientFlags uint32) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	c := &rawClient{t: t, nc: nc}
	hello := c.read(18)
	if binary.BigEndian.Uint64(hello) != 0x4e42444d41474943 || binary.BigEndian.Uint64(hello[8:]) != 0x49484156454F5054 {
		t.Fatalf("bad greeting % x", hello)
	}
	if f := binary.BigEndian.Uint16(hello[16:]); f != 3 {
		t.Fatalf("handshake flags %#x, want FIXED_NEWSTYLE|NO_ZEROES", f)
	}
	c.write(binary.BigEndian.AppendUint32(nil, clientFlags))
	return c
}

func (c *rawClient) read(n int) []byte {
	c.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c.nc, b); err != nil {
		c.t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) option(opt uint32, data []byte) { c.write(optionBytes(opt, data)) }

// optReply returns the reply type and data of the next option reply.
func (c *rawClient) optReply(opt uint32) (uint32, []byte) {
	c.t.Helper()
	h := c.read(20)
	if binary.BigEndian.Uint64(h) != 0x3e889045565a9 || binary.BigEndian.Uint32(h[8:]) != opt {
		c.t.Fatalf("bad option reply % x", h)
	}
	return binary.BigEndian.Uint32(h[12:]), c.read(int(binary.BigEndian.Uint32(h[16:])))
}

// goExport negotiates name with OPT_GO and returns its size and flags.
func (c *rawClient) goExport(name string) (uint64, uint16) {
	c.t.Helper()
	c.option(7, goData(name))
	var size uint64
	var flags uint16
	for {
		typ, data := c.optReply(7)
		switch typ {
		case 3:
			if binary.BigEndian.Uint16(data) == 0 {
				size, flags = binary.BigEndian.Uint64(data[2:]), binary.BigEndian.Uint16(data[10:])
			}
		case 1:
			return size, flags
		default:
			c.t.Fatalf("OPT_GO %s: reply %#x %q", name, typ, data)
		}
	}
}

func (c *rawClient) request(typ, flags uint16, handle, off uint64, length uint32, payload []byte) {
	c.write(requestBytes(flags, typ, handle, off, length, payload))
}

// reply reads a simple reply header: handle and error.
func (c *rawClient) reply() (uint64, uint32) {
	c.t.Helper()
	h := c.read(16)
	if binary.BigEndian.Uint32(h) != 0x67446698 {
		c.t.Fatalf("bad reply magic % x", h)
	}
	return binary.BigEndian.Uint64(h[8:]), binary.BigEndian.Uint32(h[4:])
}

func (c *rawClient) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.nc.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) || n > 0 {
		c.t.Fatalf("connection still open: %d, %v", n, err)
	}
}

func TestHandshakeErrors(t *testing.T) {
	s := startServer(t)
	if err := s.pool.Create(context.Background(), "v", 1<<20); err != nil {
		t.Fatal(err)
	}

	t.Run("unknown option", func(t *testing.T) {
		c := dial(t, s.addr, 1)
		for _, opt := range []uint32{5, 99} { // STARTTLS, unknown
			c.option(opt, []byte("xyz"))
			if typ, _ := c.optReply(opt); typ != 1<<31+1 {
				t.Fatalf("option %d: reply %#x, want ERR_UNSUP", opt, typ)
			}
		}
		c.option(3, nil) // the session is still usable
		if typ, data := c.optReply(3); typ != 2 || string(data[4:]) != "v" {
			t.Fatalf("LIST: %#x %q", typ, data)
		}
		if typ, _ := c.optReply(3); typ != 1 {
			t.Fatalf("LIST end: %#x", typ)
		}
		c.option(2, nil)
		if typ, _ := c.optReply(2); typ != 1 {
			t.Fatalf("ABORT: %#x", typ)
		}
		c.expectClosed()
	})
	t.Run("unknown export", func(t *testing.T) {
		c := dial(t, s.addr, 1)
		c.option(7, goData("nope"))
		if typ, _ := c.optReply(7); typ != 1<<31+6 {
			t.Fatalf("GO nope: %#x, want ERR_UNKNOWN", typ)
		}
		c.option(6, []byte{0, 0, 0, 9, 'x'}) // malformed INFO
		if typ, _ := c.optReply(6); typ != 1<<31+3 {
			t.Fatalf("bad INFO: %#x, want ERR_INVALID", typ)
		}
		c.option(1, []byte("nope")) // EXPORT_NAME cannot fail politely
		c.expectClosed()
	})
	t.Run("export name fallback", func(t *testing.T) {
		c := dial(t, s.addr, 1) // no NO_ZEROES: expect the 124 zero bytes
		c.option(1, []byte("v"))
		b := c.read(8 + 2 + 124)
		if binary.BigEndian.Uint64(b) != 1<<20 || binary.BigEndian.Uint16(b[8:])&1 == 0 {
			t.Fatalf("EXPORT_NAME reply % x", b[:10])
		}
		c.request(0, 0, 7, 0, 4096, nil)
		if h, e := c.reply(); h != 7 || e != 0 {
			t.Fatalf("read after EXPORT_NAME: handle %d error %d", h, e)
		}
		c.read(4096)
		c.request(2, 0, 8, 0, 0, nil) // DISC
		c.expectClosed()
	})
	t.Run("oversized option", func(t *testing.T) {
		c := dial(t, s.addr, 1)
		c.option(7, make([]byte, 100<<10))
		if typ, _ := c.optReply(7); typ != 1<<31+9 {
			t.Fatalf("huge option: %#x, want ERR_TOO_BIG", typ)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		c := dial(t, s.addr, 1)
		c.write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		c.expectClosed()
	})
	t.Run("bad client flags", func(t *testing.T) {
		c := dial(t, s.addr, 1<<20)
		c.expectClosed()
	})
	t.Run("silent client", func(t *testing.T) {
		nc, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.Close() // leaves the server mid-greeting; it must not hang or leak
	})
}

func TestRequestErrors(t *testing.T) { testRequestErrors(t, startServer(t)) }

func testRequestErrors(t *testing.T, s *testServer) {
	ctx := context.Background()
	if err := s.pool.Create(ctx, "v", 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := s.pool.Snapshot(ctx, "v", "snap"); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.addr, 3)
	size, flags := c.goExport("v")
	if size != 1<<20 || flags != 1|4|8|32|64|256|2048 {
		t.Fatalf("size %d flags %#x", size, flags)
	}
	cases := []struct {
		name       string
		typ, flags uint16
		off        uint64
		length     uint32
		payload    []byte
		want       uint32
	}{
		{"read past end", 0, 0, 1 << 20, 1, nil, 22},
		{"read overflowing offset", 0, 0, 1<<64 - 2, 4, nil, 22},
		{"write past end", 1, 0, 1<<20 - 2, 4, []byte{1, 2, 3, 4}, 28},
		{"trim past end", 4, 0, 0, 2 << 20, nil, 22},
		{"zero past end", 6, 0, 1 << 19, 1 << 20, nil, 28},
		{"huge read", 0, 0, 0, 64 << 20, nil, 75},
		{"unknown command", 99, 0, 0, 0, nil, 22},
		{"BLOCK_STATUS not negotiated", 7, 0, 0, 4096, nil, 22},
		{"bad flag for read", 0, 2, 0, 4096, nil, 22},
		{"zero-length write", 1, 0, 0, 0, nil, 0},
		{"write FUA", 1, 1, 4096, 3, []byte("abc"), 0},
		{"zero NO_HOLE FAST_ZERO", 6, 2 | 16, 0, 4096, nil, 0},
	}
	for i, tc := range cases {
		c.request(tc.typ, tc.flags, uint64(i), tc.off, tc.length, tc.payload)
		h, e := c.reply()
		if h != uint64(i) || e != tc.want {
			t.Errorf("%s: handle %d error %d, want %d", tc.name, h, e, tc.want)
		}
	}
	// An oversized write is consumed and refused; the stream stays in sync.
	c.request(1, 0, 100, 0, 33<<20, make([]byte, 33<<20))
	if h, e := c.reply(); h != 100 || e != 75 {
		t.Errorf("oversized write: handle %d error %d", h, e)
	}
	c.request(0, 0, 101, 4096, 3, nil)
	if h, e := c.reply(); h != 101 || e != 0 || string(c.read(3)) != "abc" {
		t.Fatalf("read after errors: %d %d", h, e)
	}

	ro := dial(t, s.addr, 3)
	if _, flags := ro.goExport("snap"); flags&2 == 0 {
		t.Fatalf("snapshot flags %#x lack READ_ONLY", flags)
	}
	for i, typ := range []uint16{1, 4, 6} {
		var payload []byte
		if typ == 1 {
			payload = make([]byte, 512)
		}
		ro.request(typ, 0, uint64(i), 0, 512, payload)
		if _, e := ro.reply(); e != 1 {
			t.Errorf("command %d on a snapshot: error %d, want EPERM", typ, e)
		}
	}
	ro.request(3, 0, 9, 0, 0, nil)
	if _, e := ro.reply(); e != 0 {
		t.Errorf("flush on a snapshot: %d", e)
	}
}

// TestConcurrentRequests pipelines many requests on one connection: every
// one gets exactly one reply, and reads see the writes that were replied
// to before they were sent.
func TestConcurrentRequests(t *testing.T) { testConcurrentRequests(t, startServer(t)) }

func testConcurrentRequests(t *testing.T, s *testServer) {
	ctx := context.Background()
	const blocks = 256
	if err := s.pool.Create(ctx, "v", blocks*4096); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.addr, 3)
	c.goExport("v")
	for i := range blocks {
		c.request(1, 0, uint64(i), uint64(i)*4096, 4096, bytes.Repeat([]byte{byte(i)}, 4096))
	}
	seen := map[uint64]bool{}
	for range blocks {
		h, e := c.reply()
		if e != 0 || seen[h] {
			t.Fatalf("write reply handle %d error %d (dup %v)", h, e, seen[h])
		}
		seen[h] = true
	}
	c.request(3, 0, 1000, 0, 0, nil)
	if h, e := c.reply(); h != 1000 || e != 0 {
		t.Fatalf("flush: %d %d", h, e)
	}
	for i := range blocks {
		c.request(0, 0, uint64(i), uint64(i)*4096, 4096, nil)
	}
	for range blocks {
		h, e := c.reply()
		if e != 0 {
			t.Fatalf("read %d: error %d", h, e)
		}
		if got := c.read(4096); !bytes.Equal(got, bytes.Repeat([]byte{byte(h)}, 4096)) {
			t.Fatalf("read %d returned block of %d", h, got[0])
		}
	}
}

// TestStalledReader: a client that stops reading its replies holds up
// neither another client of the same volume (on RBD both connections'
// completions are reaped and replied to by one goroutine per image, which
// must never wait for a socket) nor its own replies once it reads again.
func TestStalledReader(t *testing.T) { testStalledReader(t, startServer(t)) }

func testStalledReader(t *testing.T, s *testServer) {
	ctx := context.Background()
	const reads, size = 48, 1 << 20 // far more than the sockets hold
	if err := s.pool.Create(ctx, "v", reads*size); err != nil {
		t.Fatal(err)
	}
	stalled := dial(t, s.addr, 3)
	stalled.goExport("v")
	stalled.nc.SetDeadline(time.Time{})
	// Each MiB holds its own byte, so that a reply carrying another's data,
	// or bytes out of place where the socket cut a reply, shows.
	block := func(i int) []byte { return bytes.Repeat([]byte{byte(0x80 + i)}, size) }
	for i := range reads {
		stalled.request(1, 0, uint64(i), uint64(i)*size, size, block(i))
		if h, e := stalled.reply(); h != uint64(i) || e != 0 {
			t.Fatalf("write %d: reply %d error %d", i, h, e)
		}
	}
	// A sequential stream, which the request loop of the pool's export
	// sends from the page cache, without reading it into a buffer.
	for i := range reads {
		stalled.request(0, 0, uint64(i), uint64(i)*size, size, nil)
	}
	// Another client writes and reads back the same volume meanwhile.
	qctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(qctx, lookTool(t, "qemu-io"), "-f", "raw",
		"-c", "write -P 0x5a 1M 64k", "-c", "aio_write -P 0x33 2M 4k", "-c", "aio_flush",
		"-c", "read -P 0x5a 1M 64k", "-c", "read -P 0x33 2M 4k", s.uri("v")).CombinedOutput()
	if err != nil || strings.Contains(string(out), "Pattern verification failed") {
		t.Fatalf("qemu-io beside a stalled client: %v\n%s", err, out)
	}
	stalled.nc.SetDeadline(time.Now().Add(time.Minute))
	seen := map[uint64]bool{}
	for range reads {
		h, e := stalled.reply()
		if e != 0 || h >= reads || seen[h] {
			t.Fatalf("read reply handle %d error %d (dup %v)", h, e, seen[h])
		}
		seen[h] = true
		data, want := stalled.read(size), block(int(h))
		// The other client's writes to blocks 1 and 2 may come first.
		switch h {
		case 1:
			if bytes.Equal(data[:64<<10], bytes.Repeat([]byte{0x5a}, 64<<10)) {
				copy(data, want[:64<<10])
			}
		case 2:
			if bytes.Equal(data[:4<<10], bytes.Repeat([]byte{0x33}, 4<<10)) {
				copy(data, want[:4<<10])
			}
		}
		if !bytes.Equal(data, want) {
			t.Fatalf("read %d: not its block's data", h)
		}
	}
}

// slowExport holds writes until released, so a shutdown finds them in
// flight: each write says it arrived on entered, then waits for release.
type slowExport struct {
	nbd.Export
	entered chan struct{}
	release chan struct{}
}

func (e *slowExport) WriteAt(ctx context.Context, b []byte, off int64) error {
	e.entered <- struct{}{}
	<-e.release
	return e.Export.WriteAt(ctx, b, off)
}

type slowResolver struct {
	poolResolver
	e *slowExport
}

func (r slowResolver) Resolve(ctx context.Context, name string) (nbd.Export, error) {
	v, err := r.poolResolver.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	r.e.Export = v
	return r.e, nil
}

// TestShutdownDrains cancels Serve while writes are in flight: they finish
// and reply, the connection closes and Serve returns.
func TestShutdownDrains(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool, err := blockstore.Open(ctx, t.TempDir(), blockstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pool.Create(ctx, "v", 1<<20); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &slowExport{entered: make(chan struct{}, 8), release: make(chan struct{})}
	srv := nbd.NewServer(slowResolver{poolResolver{pool}, e}, nbd.Options{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	c := dial(t, ln.Addr().String(), 3)
	c.goExport("v")
	idle := dial(t, ln.Addr().String(), 3) // a client sitting in the handshake
	for i := range 8 {
		c.request(1, 0, uint64(i), uint64(i)*512, 512, bytes.Repeat([]byte{9}, 512))
	}
	// All 8 are off the socket and in the export (the server runs up to
	// MaxInFlight at once) when the shutdown begins; they finish after it.
	for range 8 {
		<-e.entered
	}
	cancel()
	close(e.release)
	for range 8 {
		if _, e := c.reply(); e != 0 {
			t.Fatalf("in-flight write failed with %d during shutdown", e)
		}
	}
	c.expectClosed()
	idle.expectClosed()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

// flushPanics is an export with a bug: flushing it panics.
type flushPanics struct{ *memExport }

func (flushPanics) Flush(context.Context) error { panic("a bug in the export") }

// TestRequestPanics: a request that panics in its export is answered EIO
// and costs nothing else, not the connection and not the node.
func TestRequestPanics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := flushPanics{&memExport{t: t, buf: make([]byte, 1<<20)}}
	srv := nbd.NewServer(memResolver{e}, nbd.Options{Logger: slog.New(slog.DiscardHandler)})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	c := dial(t, ln.Addr().String(), 3)
	c.goExport("disk")
	c.request(1, 0, 1, 0, 3, []byte("abc"))
	if _, e := c.reply(); e != 0 {
		t.Fatalf("write: error %d", e)
	}
	c.request(3, 0, 2, 0, 0, nil)
	if h, e := c.reply(); h != 2 || e != 5 {
		t.Fatalf("flush that panics: handle %d error %d, want EIO", h, e)
	}
	c.request(0, 0, 3, 0, 3, nil)
	if h, e := c.reply(); h != 3 || e != 0 || string(c.read(3)) != "abc" {
		t.Fatalf("read after the panic: handle %d error %d", h, e)
	}
	other := dial(t, ln.Addr().String(), 3)
	if size, _ := other.goExport("disk"); size != 1<<20 {
		t.Fatalf("a new connection after the panic sees size %d", size)
	}
}
