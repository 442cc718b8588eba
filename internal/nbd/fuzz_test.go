package nbd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/nbd"
)

// memExport is a 1 MiB export in memory that checks every range it is
// handed: the server must validate requests before they reach an export.
type memExport struct {
	t   *testing.T
	mu  sync.Mutex
	buf []byte
}

func (m *memExport) Size() int64    { return int64(len(m.buf)) }
func (m *memExport) ReadOnly() bool { return false }

func (m *memExport) in(off, n int64) {
	if off < 0 || n < 0 || off+n > int64(len(m.buf)) {
		m.t.Errorf("the server let through the range %d+%d of a %d-byte export", off, n, len(m.buf))
	}
}

func (m *memExport) ReadAt(_ context.Context, b []byte, off int64) error {
	m.in(off, int64(len(b)))
	m.mu.Lock()
	defer m.mu.Unlock()
	copy(b, m.buf[off:])
	return nil
}

func (m *memExport) WriteAt(_ context.Context, b []byte, off int64) error {
	m.in(off, int64(len(b)))
	m.mu.Lock()
	defer m.mu.Unlock()
	copy(m.buf[off:], b)
	return nil
}

func (m *memExport) Flush(context.Context) error { return nil }

func (m *memExport) Trim(_ context.Context, off, n int64) error { m.in(off, n); return nil }

func (m *memExport) Zero(_ context.Context, off, n int64, _ bool) error { m.in(off, n); return nil }

func (m *memExport) Allocated(_ context.Context, off, n int64) (int64, bool, error) {
	m.in(off, n)
	return n, true, nil
}

type memResolver struct{ e nbd.Export }

func (r memResolver) Resolve(_ context.Context, name string) (nbd.Export, error) {
	if name != "disk" {
		return nil, errs.E(errs.NotExist, "no such export")
	}
	return r.e, nil
}

func (r memResolver) List(context.Context) ([]string, error) { return []string{"disk"}, nil }

// scriptConn is a client that sends a fixed byte stream and then hangs
// up; whatever the server writes is discarded.
type scriptConn struct{ r io.Reader }

func (c scriptConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c scriptConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c scriptConn) Close() error                     { return nil }
func (c scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c scriptConn) SetDeadline(time.Time) error      { return nil }
func (c scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c scriptConn) SetWriteDeadline(time.Time) error { return nil }

// optionBytes, goData and requestBytes encode the client's side of the
// protocol, for raw clients and fuzz seeds.
func optionBytes(typ uint32, data []byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, 0x49484156454F5054)
	b = binary.BigEndian.AppendUint32(b, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

func goData(name string, infos ...uint16) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(infos)))
	for _, i := range infos {
		b = binary.BigEndian.AppendUint16(b, i)
	}
	return b
}

func requestBytes(flags, typ uint16, handle, off uint64, length uint32, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0x25609513)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint64(b, handle)
	b = binary.BigEndian.AppendUint64(b, off)
	b = binary.BigEndian.AppendUint32(b, length)
	return append(b, payload...)
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// FuzzServeConn feeds a whole client byte stream, handshake and requests,
// to one connection. The server must not panic, must not hang once the
// client hangs up, and must never hand an export a range outside it.
func FuzzServeConn(f *testing.F) {
	flags := []byte{0, 0, 0, 3}
	transmission := concat(
		requestBytes(0, 1, 1, 4096, 5, []byte("hello")), // WRITE
		requestBytes(1, 1, 2, 0, 3, []byte("fua")),      // WRITE with FUA
		requestBytes(0, 0, 3, 4096, 5, nil),             // READ
		requestBytes(0, 3, 4, 0, 0, nil),                // FLUSH
		requestBytes(0, 4, 5, 0, 4096, nil),             // TRIM
		requestBytes(2, 6, 6, 8192, 4096, nil),          // WRITE_ZEROES, NO_HOLE
		requestBytes(0, 0, 7, 1<<20-1, 2, nil),          // READ past the end
		requestBytes(0, 1, 8, 1<<63, 1, []byte("x")),    // WRITE at a huge offset
		requestBytes(0, 2, 9, 0, 0, nil),                // DISC
	)
	f.Add(concat(flags, optionBytes(7, goData("disk", 0, 3)), transmission))
	f.Add(concat(flags, optionBytes(1, []byte("disk")), transmission))
	f.Add(concat(flags, optionBytes(3, nil), optionBytes(6, goData("disk")), optionBytes(6, goData("nope")), optionBytes(7, goData("disk")), transmission))
	f.Add(concat(flags, optionBytes(8, nil), optionBytes(99, []byte("x")), optionBytes(2, nil)))
	f.Add(concat(flags, optionBytes(7, []byte{0xff, 0xff, 0xff, 0xff})))
	f.Add(concat([]byte{0, 0, 0, 1}, optionBytes(1, []byte("disk")), requestBytes(0, 0, 1, 0, 1<<31, nil)))
	f.Add(concat(flags, optionBytes(7, goData("disk")), requestBytes(0, 1, 1, 0, 64<<20, nil)))
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, stream []byte) {
		e := &memExport{t: t, buf: make([]byte, 1<<20)}
		s := nbd.NewServer(memResolver{e}, nbd.Options{Logger: log, MaxInFlight: 4})
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.ServeConn(context.Background(), scriptConn{bytes.NewReader(stream)})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the server did not finish after the client hung up")
		}
	})
}
