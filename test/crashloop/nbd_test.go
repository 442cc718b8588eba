package crashloop

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// nbdClient is the smallest client the workload needs: fixed newstyle,
// OPT_GO, simple replies, one request at a time.
type nbdClient struct {
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

func dialNBD(addr, export string) (*nbdClient, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	n := &nbdClient{c: c}
	if err := n.handshake(export); err != nil {
		c.Close()
		return nil, fmt.Errorf("nbd handshake: %w", err)
	}
	return n, nil
}

func (n *nbdClient) handshake(export string) error {
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

func (n *nbdClient) send(typ, flags uint16, off uint64, length uint32, payload []byte) error {
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
func (n *nbdClient) do(typ, flags uint16, off uint64, length uint32, payload, into []byte) error {
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
		return fmt.Errorf("nbd error %d", e)
	}
	if into != nil {
		_, err := io.ReadFull(n.c, into)
		return err
	}
	return nil
}

func (n *nbdClient) write(off uint64, b []byte, fua bool) error {
	var f uint16
	if fua {
		f = nbdFlagFUA
	}
	return n.do(nbdCmdWrite, f, off, uint32(len(b)), b, nil)
}

func (n *nbdClient) read(off uint64, b []byte) error {
	return n.do(nbdCmdRead, 0, off, uint32(len(b)), nil, b)
}

func (n *nbdClient) flush() error { return n.do(nbdCmdFlush, 0, 0, 0, nil, nil) }

// close says goodbye (DISC has no reply) and hangs up.
func (n *nbdClient) close() {
	n.send(nbdCmdDisc, 0, 0, 0, nil)
	n.c.Close()
}
