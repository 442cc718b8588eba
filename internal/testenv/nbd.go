package testenv

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// NBD is the smallest NBD client tests need: fixed newstyle, OPT_GO,
// simple replies, one request at a time. A refused request returns an
// *NBDError carrying the protocol's errno.
type NBD struct {
	c    net.Conn
	size uint64
	seq  uint64
}

const (
	nbdCmdRead  = 0
	nbdCmdWrite = 1
	nbdCmdDisc  = 2
	nbdCmdFlush = 3
	nbdFlagFUA  = 1
)

// NBDError is an error reply; Errno is the protocol's value (EIO 5,
// ENOSPC 28, …).
type NBDError struct{ Errno uint32 }

func (e *NBDError) Error() string { return fmt.Sprintf("nbd error %d", e.Errno) }

// DialNBD connects to export on addr and negotiates it.
func DialNBD(addr, export string) (*NBD, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	n := &NBD{c: c}
	if err := n.handshake(export); err != nil {
		c.Close()
		return nil, fmt.Errorf("nbd handshake: %w", err)
	}
	return n, nil
}

func (n *NBD) handshake(export string) error {
	n.c.SetDeadline(time.Now().Add(10 * time.Second))
	defer n.c.SetDeadline(time.Time{})
	var hello [18]byte
	if _, err := io.ReadFull(n.c, hello[:]); err != nil {
		return err
	}
	if string(hello[:8]) != "NBDMAGIC" || string(hello[8:16]) != "IHAVEOPT" {
		return fmt.Errorf("bad greeting % x", hello)
	}
	data := binary.BigEndian.AppendUint32(nil, uint32(len(export)))
	data = append(data, export...)
	data = binary.BigEndian.AppendUint16(data, 0)
	msg := binary.BigEndian.AppendUint32(nil, 3) // fixed newstyle, no zeroes
	msg = append(msg, "IHAVEOPT"...)
	msg = binary.BigEndian.AppendUint32(msg, 7) // OPT_GO
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(data)))
	if _, err := n.c.Write(append(msg, data...)); err != nil {
		return err
	}
	for {
		var h [20]byte
		if _, err := io.ReadFull(n.c, h[:]); err != nil {
			return err
		}
		typ, length := binary.BigEndian.Uint32(h[12:]), binary.BigEndian.Uint32(h[16:])
		body := make([]byte, length)
		if _, err := io.ReadFull(n.c, body); err != nil {
			return err
		}
		switch {
		case typ == 1: // ACK
			return nil
		case typ == 3 && len(body) >= 12 && binary.BigEndian.Uint16(body) == 0:
			n.size = binary.BigEndian.Uint64(body[2:])
		case typ >= 1<<31:
			return fmt.Errorf("option refused: %#x %q", typ, body)
		}
	}
}

func (n *NBD) send(typ, flags uint16, off uint64, length uint32, payload []byte) error {
	n.seq++
	n.c.SetDeadline(time.Now().Add(30 * time.Second))
	b := binary.BigEndian.AppendUint32(nil, 0x25609513)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint64(b, n.seq)
	b = binary.BigEndian.AppendUint64(b, off)
	b = binary.BigEndian.AppendUint32(b, length)
	_, err := n.c.Write(append(b, payload...))
	return err
}

// do sends one request and waits for its reply.
func (n *NBD) do(typ, flags uint16, off uint64, length uint32, payload, into []byte) error {
	if err := n.send(typ, flags, off, length, payload); err != nil {
		return err
	}
	var h [16]byte
	if _, err := io.ReadFull(n.c, h[:]); err != nil {
		return err
	}
	if binary.BigEndian.Uint32(h[:]) != 0x67446698 || binary.BigEndian.Uint64(h[8:]) != n.seq {
		return fmt.Errorf("bad reply % x", h)
	}
	if e := binary.BigEndian.Uint32(h[4:]); e != 0 {
		return &NBDError{e}
	}
	if into != nil {
		_, err := io.ReadFull(n.c, into)
		return err
	}
	return nil
}

// Size is the export's size as announced at handshake.
func (n *NBD) Size() uint64 { return n.size }

// Write writes b at off, with FUA when asked.
func (n *NBD) Write(off uint64, b []byte, fua bool) error {
	var f uint16
	if fua {
		f = nbdFlagFUA
	}
	return n.do(nbdCmdWrite, f, off, uint32(len(b)), b, nil)
}

// Read fills b from off.
func (n *NBD) Read(off uint64, b []byte) error {
	return n.do(nbdCmdRead, 0, off, uint32(len(b)), nil, b)
}

// Flush makes every acknowledged write durable.
func (n *NBD) Flush() error { return n.do(nbdCmdFlush, 0, 0, 0, nil, nil) }

// Close says goodbye (DISC has no reply) and hangs up.
func (n *NBD) Close() {
	n.send(nbdCmdDisc, 0, 0, 0, nil)
	n.c.Close()
}
