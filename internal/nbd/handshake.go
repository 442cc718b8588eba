package nbd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/stowage/stowage/internal/errs"
)

type conn struct {
	s        *Server
	nc       net.Conn
	ctx      context.Context
	br       *bufio.Reader
	noZeroes bool
	tls      bool // STARTTLS succeeded: c.nc is the TLS connection

	structured bool         // the client negotiated structured replies
	meta       metaContexts // meta contexts selected for BLOCK_STATUS

	qmu       sync.Mutex // guards the reply queue below
	queue     [][]byte   // replies waiting for the sender
	queueBufs []*[]byte  // pooled buffers referenced by queue
	spare     [][]byte
	spareBufs []*[]byte
	queued    int       // bytes in queue and in the write under way
	drained   sync.Cond // on qmu: queued went down
	sending   bool      // a goroutine is writing the queue
	owed      bool      // the sender is an asyncReplies.Flush to come

	wg    sync.WaitGroup // requests being served and senders started for them
	sem   chan struct{}  // a slot per request in flight
	async *asyncReplies  // the requests started on an AsyncExport
	// raw writes the socket without waiting, for Flush; nil under TLS.
	raw syscall.RawConn
}

func (c *conn) setDeadline(t time.Time) {
	c.nc.SetDeadline(t)
	if c.ctx.Err() != nil { // cancellation raced with us: keep it effective
		c.nc.SetReadDeadline(time.Now())
	}
}

// handshake runs the fixed newstyle negotiation and returns the export the
// client chose, or an error when the client left or broke the protocol.
func (c *conn) handshake() (Export, error) {
	c.setDeadline(time.Now().Add(c.s.opts.HandshakeTimeout))
	// A small buffer until the client has chosen an export: anyone may
	// open a connection, and thousands that never get that far must not
	// hold 64 KiB each.
	c.br = bufio.NewReaderSize(c.nc, 512)
	var hello [18]byte
	binary.BigEndian.PutUint64(hello[0:], magicNBD)
	binary.BigEndian.PutUint64(hello[8:], magicOpt)
	binary.BigEndian.PutUint16(hello[16:], flagFixedNewstyle|flagNoZeroes)
	if _, err := c.nc.Write(hello[:]); err != nil {
		return nil, err
	}
	var cf [4]byte
	if _, err := io.ReadFull(c.br, cf[:]); err != nil {
		return nil, err
	}
	clientFlags := binary.BigEndian.Uint32(cf[:])
	if clientFlags&^(flagFixedNewstyle|flagNoZeroes) != 0 {
		return nil, fmt.Errorf("unknown client flags %#x", clientFlags)
	}
	c.noZeroes = clientFlags&flagNoZeroes != 0
	for {
		exp, err := c.option()
		if err != nil || exp != nil {
			if exp != nil {
				c.setDeadline(time.Time{})
				c.growBuffer()
			}
			return exp, err
		}
	}
}

// growBuffer gives the connection the read buffer of the transmission
// phase, keeping whatever the client already sent.
func (c *conn) growBuffer() {
	rd := io.Reader(c.nc)
	if n := c.br.Buffered(); n > 0 {
		early, _ := c.br.Peek(n)
		rd = io.MultiReader(bytes.NewReader(bytes.Clone(early)), c.nc)
	}
	c.br = bufio.NewReaderSize(rd, 64<<10)
}

// option handles one option. It returns an export when the client entered
// transmission.
func (c *conn) option() (Export, error) {
	var h [16]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return nil, err
	}
	if binary.BigEndian.Uint64(h[0:]) != magicOpt {
		return nil, errors.New("bad option magic")
	}
	opt := binary.BigEndian.Uint32(h[8:])
	n := binary.BigEndian.Uint32(h[12:])
	if n > maxOptionLength {
		// Too big to be honest. Skip it to stay in sync, then refuse.
		if _, err := io.CopyN(io.Discard, c.br, int64(n)); err != nil {
			return nil, err
		}
		return nil, c.optReply(opt, repErrTooBig, []byte("option too long"))
	}
	// Read what arrives rather than allocate what is declared, so an
	// option that is announced and never sent costs nothing.
	data, err := io.ReadAll(io.LimitReader(c.br, int64(n)))
	if err == nil && len(data) < int(n) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	if c.ctx.Err() != nil {
		if opt != optExportName {
			c.optReply(opt, repErrShutdown, []byte("server shutting down"))
		}
		return nil, c.ctx.Err()
	}
	if c.s.opts.RequireTLS && !c.tls && opt != optStartTLS && opt != optAbort {
		return nil, c.refusePlain(opt)
	}
	switch opt {
	case optStartTLS:
		return nil, c.startTLS(n)
	case optExportName:
		return c.exportName(string(data))
	case optAbort:
		c.optReply(opt, repAck, nil) // the client may already be gone
		return nil, errClosed
	case optList:
		if n != 0 {
			return nil, c.optReply(opt, repErrInvalid, []byte("LIST takes no data"))
		}
		names, err := c.s.r.List(c.ctx)
		if err != nil {
			return nil, c.optReply(opt, repErrPolicy, []byte("cannot list exports"))
		}
		for _, name := range names {
			b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
			if err := c.optReply(opt, repServer, append(b, name...)); err != nil {
				return nil, err
			}
		}
		return nil, c.optReply(opt, repAck, nil)
	case optInfo, optGo:
		return c.infoGo(opt, data)
	case optStructuredReply:
		if n != 0 {
			return nil, c.optReply(opt, repErrInvalid, []byte("STRUCTURED_REPLY takes no data"))
		}
		c.structured = true
		return nil, c.optReply(opt, repAck, nil)
	case optListMetaContext, optSetMetaContext:
		return nil, c.metaContextOption(opt, data)
	default:
		// Anything newer.
		return nil, c.optReply(opt, repErrUnsup, []byte("option not supported"))
	}
}

func (c *conn) optReply(opt, typ uint32, data []byte) error {
	b := make([]byte, 20, 20+len(data))
	binary.BigEndian.PutUint64(b[0:], magicOptReply)
	binary.BigEndian.PutUint32(b[8:], opt)
	binary.BigEndian.PutUint32(b[12:], typ)
	binary.BigEndian.PutUint32(b[16:], uint32(len(data)))
	_, err := c.nc.Write(append(b, data...))
	return err
}

func flagsFor(e Export) uint16 {
	if e.ReadOnly() {
		return tflagHasFlags | tflagReadOnly | tflagSendFlush | tflagCanMultiConn
	}
	return tflagHasFlags | tflagSendFlush | tflagSendFUA | tflagSendTrim |
		tflagSendWriteZeroes | tflagSendFastZero | tflagCanMultiConn
}

// exportName is the old way in: no error reply is possible, so an unknown
// name ends the connection.
func (c *conn) exportName(name string) (Export, error) {
	exp, err := c.s.r.Resolve(c.ctx, name)
	if err != nil {
		return nil, fmt.Errorf("export %q: %w", name, err)
	}
	b := binary.BigEndian.AppendUint64(nil, uint64(exp.Size()))
	b = binary.BigEndian.AppendUint16(b, flagsFor(exp))
	if !c.noZeroes {
		b = append(b, make([]byte, 124)...)
	}
	if _, err := c.nc.Write(b); err != nil {
		closeExport(exp)
		return nil, err
	}
	if c.meta.export != name {
		c.meta = metaContexts{} // selected for another export
	}
	return exp, nil
}

func closeExport(e Export) {
	if cl, ok := e.(io.Closer); ok {
		cl.Close()
	}
}

func (c *conn) infoGo(opt uint32, data []byte) (Export, error) {
	if len(data) < 6 {
		return nil, c.optReply(opt, repErrInvalid, []byte("short request"))
	}
	nl := binary.BigEndian.Uint32(data)
	if uint64(nl)+6 > uint64(len(data)) {
		return nil, c.optReply(opt, repErrInvalid, []byte("bad name length"))
	}
	name := string(data[4 : 4+nl])
	rest := data[4+nl:]
	nreq := int(binary.BigEndian.Uint16(rest))
	if len(rest) != 2+2*nreq {
		return nil, c.optReply(opt, repErrInvalid, []byte("bad information request list"))
	}
	exp, err := c.s.r.Resolve(c.ctx, name)
	if err != nil {
		typ, msg := uint32(repErrUnknown), "unknown export"
		if errs.Is(err, errs.Permission) || errs.Is(err, errs.Unauthorized) {
			typ, msg = repErrPolicy, "export not permitted"
		}
		return nil, c.optReply(opt, typ, []byte(msg))
	}
	// We always send the export and block size information; the client's
	// list of requests only asks for more, and we have nothing more.
	b := binary.BigEndian.AppendUint16(nil, infoExport)
	b = binary.BigEndian.AppendUint64(b, uint64(exp.Size()))
	b = binary.BigEndian.AppendUint16(b, flagsFor(exp))
	if err := c.optReply(opt, repInfo, b); err != nil {
		closeExport(exp)
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(nil, infoBlockSize)
	b = binary.BigEndian.AppendUint32(b, minBlock)
	b = binary.BigEndian.AppendUint32(b, preferredBlock)
	b = binary.BigEndian.AppendUint32(b, maxPayload)
	if err := c.optReply(opt, repInfo, b); err != nil {
		closeExport(exp)
		return nil, err
	}
	if err := c.optReply(opt, repAck, nil); err != nil {
		closeExport(exp)
		return nil, err
	}
	if opt == optInfo {
		closeExport(exp)
		return nil, nil
	}
	if c.meta.export != name {
		c.meta = metaContexts{} // selected for another export
	}
	return exp, nil
}
