package waldur_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// nbdRoundTrip plays the hypervisor: it opens the export an attachment's
// nbd:// URI names (fixed newstyle, NBD_OPT_GO), writes a block, reads it
// back and disconnects. It speaks just enough of the protocol for that.
func nbdRoundTrip(t *testing.T, uri string) {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "nbd" {
		t.Fatalf("connection uri %q", uri)
	}
	nc, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	read := func(n int) []byte {
		t.Helper()
		b := make([]byte, n)
		if _, err := io.ReadFull(nc, b); err != nil {
			t.Fatalf("nbd read: %v", err)
		}
		return b
	}
	write := func(b []byte) {
		t.Helper()
		if _, err := nc.Write(b); err != nil {
			t.Fatalf("nbd write: %v", err)
		}
	}
	if hello := read(18); binary.BigEndian.Uint64(hello) != 0x4e42444d41474943 {
		t.Fatalf("greeting % x", hello)
	}
	write(binary.BigEndian.AppendUint32(nil, 3)) // FIXED_NEWSTYLE | NO_ZEROES
	name := strings.TrimPrefix(u.Path, "/")
	opt := binary.BigEndian.AppendUint64(nil, 0x49484156454F5054)
	opt = binary.BigEndian.AppendUint32(opt, 7) // NBD_OPT_GO
	opt = binary.BigEndian.AppendUint32(opt, uint32(4+len(name)+2))
	opt = binary.BigEndian.AppendUint32(opt, uint32(len(name)))
	opt = append(opt, name...)
	write(binary.BigEndian.AppendUint16(opt, 0))
	for {
		h := read(20)
		typ, n := binary.BigEndian.Uint32(h[12:]), binary.BigEndian.Uint32(h[16:])
		data := read(int(n))
		if typ == 1 { // NBD_REP_ACK
			break
		}
		if typ != 3 { // NBD_REP_INFO
			t.Fatalf("NBD_OPT_GO %s: reply %#x %q", name, typ, data)
		}
	}
	request := func(typ uint16, handle, off uint64, length uint32, payload []byte) {
		b := binary.BigEndian.AppendUint32(nil, 0x25609513)
		b = binary.BigEndian.AppendUint16(b, 0)
		b = binary.BigEndian.AppendUint16(b, typ)
		b = binary.BigEndian.AppendUint64(b, handle)
		b = binary.BigEndian.AppendUint64(b, off)
		b = binary.BigEndian.AppendUint32(b, length)
		write(append(b, payload...))
	}
	reply := func(handle uint64) {
		t.Helper()
		h := read(16)
		if binary.BigEndian.Uint32(h) != 0x67446698 || binary.BigEndian.Uint64(h[8:]) != handle || binary.BigEndian.Uint32(h[4:]) != 0 {
			t.Fatalf("nbd reply % x", h)
		}
	}
	block := bytes.Repeat([]byte("stowage!"), 512)
	request(1, 1, 1<<20, uint32(len(block)), block) // NBD_CMD_WRITE
	reply(1)
	request(0, 2, 1<<20, uint32(len(block)), nil) // NBD_CMD_READ
	reply(2)
	if got := read(len(block)); !bytes.Equal(got, block) {
		t.Fatal("nbd read back different bytes")
	}
	request(2, 3, 0, 0, nil) // NBD_CMD_DISC
}
