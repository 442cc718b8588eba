package nfs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/bits"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/filestore"
)

// quotaFS is a volume that says its quota and usage.
type quotaFS interface {
	FS
	Quota() (quota, used int64)
}

// served is a server on 127.0.0.1:0 exporting one fresh volume.
type served struct {
	addr string
	name string
	v    quotaFS
}

func serve(t *testing.T, o Options, ex oneExport) *served {
	t.Helper()
	return serveOn(t, o, ex, localVolume)
}

// serveStore is serve with the filestore's options.
func serveStore(t *testing.T, o Options, ex oneExport, fo filestore.Options) *served {
	t.Helper()
	return serveOn(t, o, ex, func(t *testing.T) quotaFS { return localVolumeWith(t, fo) })
}

// localVolume is a fresh 1 MiB volume of a local file store.
func localVolume(t *testing.T) quotaFS { return localVolumeWith(t, filestore.Options{}) }

func localVolumeWith(t *testing.T, fo filestore.Options) quotaFS {
	t.Helper()
	ctx := context.Background()
	st, err := filestore.Open(filepath.Join(t.TempDir(), "fs"), fo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Create(ctx, "v", 1<<20); err != nil {
		t.Fatal(err)
	}
	v, err := st.Volume(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// serveOn is serve with the volume newVolume makes.
func serveOn(t *testing.T, o Options, ex oneExport, newVolume func(*testing.T) quotaFS) *served {
	t.Helper()
	ctx := context.Background()
	v := newVolume(t)
	ex.name, ex.v = ExportPrefix+strings.Repeat("01", 16), v
	srv := NewServer(ex, o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(sctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return &served{addr: ln.Addr().String(), name: ex.name, v: v}
}

// dialFrom connects from a chosen loopback address, so that a test can
// be several clients (Linux routes all of 127.0.0.0/8 to lo).
func dialFrom(t *testing.T, from, to string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", to)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer says whether the server closed c (EOF or reset) before
// the deadline; false means c was still open then.
func closedByServer(c net.Conn, within time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(within))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// nullCall is a whole NFS NULL call record.
func nullCall() []byte {
	m := &writer{b: make([]byte, 4)}
	for _, v := range []uint32{7, msgCall, 2, progNFS, 3, procNull, authNone, 0, authNone, 0} {
		m.u32(v)
	}
	return m.record()
}

// answers says whether a NULL call on c gets its reply.
func answers(c net.Conn) bool {
	if _, err := c.Write(nullCall()); err != nil {
		return false
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	rec, err := readRecord(c)
	return err == nil && len(rec) >= 4 && binary.BigEndian.Uint32(rec) == 7
}

// A declared record length is not allocated before the bytes arrive:
// connections that send only a record mark announcing 1 MiB (the
// 2000-connection flood that took the node to 2.1 GB) cost a few
// kilobytes each. TotalAlloc counts every byte allocated, so the
// measure does not depend on when the collector runs; the server has
// read each mark by the time it closes the connection for its silence.
func TestDeclaredLengthIsNotAllocated(t *testing.T) {
	const n = 200
	s := serve(t, Options{HeaderTimeout: 300 * time.Millisecond, MaxConnsPerAddr: n}, oneExport{})
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dialFrom(t, "127.0.0.1", s.addr)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, c := range conns {
		if _, err := c.Write([]byte{0x00, 0x10, 0x00, 0x00}); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range conns {
		if !closedByServer(c, 10*time.Second) {
			t.Fatalf("connection %d, silent after its record mark, is still open", i)
		}
	}
	runtime.ReadMemStats(&after)
	perConn := int64(after.TotalAlloc-before.TotalAlloc) / n
	t.Logf("%d connections declaring 1 MiB records: %d bytes allocated per connection", n, perConn)
	if perConn > 64<<10 {
		t.Fatalf("%d bytes allocated per connection that declared 1 MiB and sent nothing, want at most 64 KiB", perConn)
	}
}

// A record longer than maxRecord, whether declared in one fragment or
// accumulated over several, closes the connection without reading it;
// a record in several fragments within the limit is answered.
func TestRecordSizeLimit(t *testing.T) {
	s := serve(t, Options{}, oneExport{})
	mark := func(n uint32, last bool) []byte {
		if last {
			n |= 0x80000000
		}
		return binary.BigEndian.AppendUint32(nil, n)
	}
	one := dialFrom(t, "127.0.0.1", s.addr)
	one.Write(mark(0x7fffffff, true))
	if !closedByServer(one, 5*time.Second) {
		t.Fatal("a record declaring 2 GiB did not close the connection")
	}
	many := dialFrom(t, "127.0.0.1", s.addr)
	frag := make([]byte, 512<<10)
	go func() {
		for range 3 { // 1.5 MiB in all, over maxRecord
			many.Write(append(mark(uint32(len(frag)), false), frag...))
		}
	}()
	if !closedByServer(many, 5*time.Second) {
		t.Fatal("fragments adding up past the record limit did not close the connection")
	}

	// One NULL call split into three fragments is put back together.
	c := dialFrom(t, "127.0.0.1", s.addr)
	body := nullCall()[4:]
	var rec []byte
	rec = append(rec, mark(8, false)...)
	rec = append(rec, body[:8]...)
	rec = append(rec, mark(0, false)...)
	rec = append(rec, mark(uint32(len(body)-8), true)...)
	rec = append(rec, body[8:]...)
	if _, err := c.Write(rec); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, err := readRecord(bufio.NewReader(c))
	if err != nil || binary.BigEndian.Uint32(reply) != 7 {
		t.Fatalf("fragmented call: %v", err)
	}
}

// Connections are bounded per client address and in total; the excess
// is closed at accept, and a closed connection frees its place.
func TestConnectionLimits(t *testing.T) {
	s := serve(t, Options{MaxConns: 6, MaxConnsPerAddr: 4}, oneExport{})
	var first []net.Conn
	for i := range 4 {
		c := dialFrom(t, "127.0.0.1", s.addr)
		if !answers(c) {
			t.Fatalf("connection %d from 127.0.0.1 refused below the limit", i)
		}
		first = append(first, c)
	}
	if c := dialFrom(t, "127.0.0.1", s.addr); answers(c) {
		t.Fatal("a fifth connection from one address was served")
	}
	for i := range 2 {
		if c := dialFrom(t, "127.0.0.2", s.addr); !answers(c) {
			t.Fatalf("connection %d from 127.0.0.2 refused below the limit", i)
		}
	}
	if c := dialFrom(t, "127.0.0.3", s.addr); answers(c) {
		t.Fatal("a seventh connection in all was served")
	}
	// The server releases a place when it sees the close, which takes a
	// moment: try until it has.
	first[0].Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		c := dialFrom(t, "127.0.0.1", s.addr)
		if answers(c) {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("a closed connection did not free its place")
		}
	}
}

// A connection that has not named an export it may use lives at most
// HeaderTimeout from its accept, however chatty; once it has, only the
// idle timeout ends it.
func TestUntrustedConnectionsEndAtTheHeaderTimeout(t *testing.T) {
	s := serve(t, Options{HeaderTimeout: 300 * time.Millisecond, IdleTimeout: time.Hour}, oneExport{})
	silent := dialFrom(t, "127.0.0.1", s.addr)
	chatty := dialFrom(t, "127.0.0.1", s.addr)
	mounted := dialFrom(t, "127.0.0.1", s.addr)
	w := &wire{t: t, c: mounted, br: bufio.NewReader(mounted)}
	if st := w.call(progMount, mntMnt, func(m *writer) { m.string("/" + s.name) }).u32(); st != mnt3OK {
		t.Fatalf("MNT: %d", st)
	}
	for deadline := time.Now().Add(10 * time.Second); answers(chatty); {
		if time.Now().After(deadline) {
			t.Fatal("a connection making only NULL calls outlived the header timeout")
		}
	}
	if !closedByServer(silent, 5*time.Second) {
		t.Fatal("a silent connection outlived the header timeout")
	}
	// Both others were accepted at the same time; the mounted one
	// still answers after the chatty one was cut off.
	if !answers(mounted) {
		t.Fatal("a connection that mounted an export was closed at the header timeout")
	}
}

// A trusted connection that goes quiet is closed at the idle timeout,
// even in the middle of a record mark.
func TestIdleConnectionsAreClosed(t *testing.T) {
	s := serve(t, Options{IdleTimeout: 200 * time.Millisecond, HeaderTimeout: 200 * time.Millisecond}, oneExport{})
	c := dialFrom(t, "127.0.0.1", s.addr)
	w := &wire{t: t, c: c, br: bufio.NewReader(c)}
	if st := w.call(progMount, mntMnt, func(m *writer) { m.string("/" + s.name) }).u32(); st != mnt3OK {
		t.Fatalf("MNT: %d", st)
	}
	c.Write([]byte{0x80, 0, 0}) // part of a record mark, then silence
	if !closedByServer(c, 5*time.Second) {
		t.Fatal("idle connection not closed by the server")
	}
}

// countingReader counts the reads a record takes and the bytes it
// consumes.
type countingReader struct {
	r            io.Reader
	reads, bytes int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	n, err := c.r.Read(p)
	c.bytes += n
	return n, err
}

// FuzzRecord feeds arbitrary streams to the record reader. It must
// return exactly the fragments' bodies joined, never more than
// maxRecord, and its work must be bounded by what arrived, not by what
// was declared: memory at most twice the bytes consumed (plus one
// small first read) and a number of reads logarithmic in each
// fragment's size.
func FuzzRecord(f *testing.F) {
	mark := func(n uint32, last bool) []byte {
		if last {
			n |= 0x80000000
		}
		return binary.BigEndian.AppendUint32(nil, n)
	}
	f.Add(nullCall())
	f.Add([]byte{0x00, 0x10, 0x00, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3})
	f.Add(append(append(mark(3, false), 'a', 'b', 'c'), append(mark(1, true), 'd')...))
	f.Add(append(mark(0, false), mark(0, true)...))
	f.Add(append(mark(maxRecord, false), mark(1, true)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		cr := &countingReader{r: bytes.NewReader(in)}
		rec, err := readRecord(cr)

		// What the stream says, parsed the plain way.
		var want []byte
		wantErr := error(nil)
		frags := 0
		for p := in; ; frags++ {
			if len(p) < 4 {
				wantErr = io.ErrUnexpectedEOF
				break
			}
			h := binary.BigEndian.Uint32(p)
			n := int(h & 0x7fffffff)
			if len(want)+n > maxRecord {
				wantErr = errRecordTooLarge
				break
			}
			if len(p)-4 < n {
				wantErr = io.ErrUnexpectedEOF
				break
			}
			want = append(want, p[4:4+n]...)
			p = p[4+n:]
			if h&0x80000000 != 0 {
				break
			}
		}
		switch {
		case wantErr == errRecordTooLarge:
			if !errors.Is(err, errRecordTooLarge) {
				t.Fatalf("record past the limit: err %v", err)
			}
		case wantErr != nil:
			if err == nil {
				t.Fatalf("truncated stream read as a %d-byte record", len(rec))
			}
		case err != nil:
			t.Fatalf("whole record: %v", err)
		case !bytes.Equal(rec, want):
			t.Fatalf("record of %d bytes, want %d", len(rec), len(want))
		}
		if cap(rec) > 2*cr.bytes+minChunk {
			t.Fatalf("%d bytes held after consuming %d", cap(rec), cr.bytes)
		}
		// Each fragment: its mark, then reads doubling from minChunk.
		if limit := (frags + 1) * (2 + 2*bits.Len(uint(maxRecord/minChunk))); cr.reads > limit {
			t.Fatalf("%d reads for %d fragments, want at most %d", cr.reads, frags+1, limit)
		}
	})
}
