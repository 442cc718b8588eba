package nbd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"syscall"
)

type request struct {
	flags  uint16
	typ    uint16
	handle uint64
	off    uint64
	length uint32
	buf    *[]byte // WRITE payload
}

// transmit serves requests until the client disconnects, breaks the
// protocol, or the server shuts down; then it waits for the requests in
// flight to reply.
func (c *conn) transmit(exp Export) error {
	c.drained.L = &c.qmu
	defer c.wg.Wait()
	c.sem = make(chan struct{}, c.s.opts.MaxInFlight)
	ae, async := exp.(AsyncExport)
	if async {
		c.async = newAsyncReplies(c, c.s.opts.MaxInFlight)
	}
	views, _ := exp.(viewReader)
	if sc, ok := c.nc.(syscall.Conn); ok && !c.tls && (async || views != nil) {
		c.raw, _ = sc.SyscallConn()
	}
	size := uint64(exp.Size())
	flags := flagsFor(exp)
	// Requests already read finish even when the server is stopping, so
	// that a client sees a reply for every request it sent.
	ctx := context.WithoutCancel(c.ctx)
	var h [28]byte
	// seqEnd is where the last READ ended. A READ that starts there
	// continues a sequential stream: its data is almost always in the
	// page cache already (the kernel reads ahead of a stream, and a large
	// write's chunks are contiguous in the pool), so this goroutine serves
	// it inline. Handing it to a goroutine instead costs two thread
	// wake-ups per request, and on a busy box each waits for a time slice
	// (1 MiB sequential reads at queue depth 8 fell to 0.6-0.8 of nbdkit
	// under load that way). Other READs may go to disk and still run
	// concurrently. Only exports whose reads are local get this (see
	// localReader): a read from a remote store (RBD) would stall the loop
	// for a round trip with one request in flight.
	seqEnd := uint64(0)
	inline := false
	if l, ok := exp.(localReader); ok {
		inline = l.LocalReads()
	}
	// Any other READ whose data is cached is served inline too, when the
	// export can tell without waiting: a goroutine per 4 KiB random read
	// (its start, stack growth and the wake-up of another thread) cost
	// more CPU than the read itself.
	cached, _ := exp.(cachedReader)
	for {
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if binary.BigEndian.Uint32(h[0:]) != magicRequest {
			return errors.New("bad request magic")
		}
		r := request{
			flags:  binary.BigEndian.Uint16(h[4:]),
			typ:    binary.BigEndian.Uint16(h[6:]),
			handle: binary.BigEndian.Uint64(h[8:]),
			off:    binary.BigEndian.Uint64(h[16:]),
			length: binary.BigEndian.Uint32(h[24:]),
		}
		if r.typ == cmdDisc {
			return nil
		}
		if r.typ == cmdWrite {
			if r.length > maxPayload {
				// Stay in sync with the stream, then refuse.
				if _, err := io.CopyN(io.Discard, c.br, int64(r.length)); err != nil {
					return err
				}
				if err := c.reply(r.handle, errOverflow); err != nil {
					return err
				}
				continue
			}
			r.buf = c.s.bufs.get(int(r.length))
			if _, err := io.ReadFull(c.br, *r.buf); err != nil {
				c.s.bufs.put(r.buf)
				return err
			}
		}
		if e := check(r, size, flags); e != 0 {
			if r.buf != nil {
				c.s.bufs.put(r.buf)
			}
			if err := c.replyErr(r, e); err != nil {
				return err
			}
			continue
		}
		c.waitQueue()
		seq := false
		if r.typ == cmdRead && inline {
			seq = r.off == seqEnd
			seqEnd = r.off + uint64(r.length)
		}
		// Any READ whose data is cached is sent from the page cache when
		// the export offers it: besides the copy, for small random reads
		// that saves handing each reply to the sender goroutine.
		if r.typ == cmdRead && views != nil && c.sendView(views, r) {
			continue
		}
		if seq {
			c.serve(ctx, exp, r, true)
			continue
		}
		if r.typ == cmdRead && cached != nil && c.tryRead(cached, r) {
			continue
		}
		c.sem <- struct{}{}
		c.wg.Add(1)
		// A large WRITE still gets a goroutine: starting it copies the
		// payload (librbd does), which would hold up the request loop.
		if async && (r.typ == cmdRead || (r.typ == cmdWrite && r.flags&cmdFlagFUA == 0 && r.length <= asyncWriteMax)) {
			c.async.start(ae, r)
			continue
		}
		go func() {
			defer c.wg.Done()
			defer func() { <-c.sem }()
			c.serve(ctx, exp, r, false)
		}()
	}
}

// asyncWriteMax is the largest WRITE the request loop starts itself on an
// AsyncExport.
const asyncWriteMax = 64 << 10

// localReader is an Export whose reads come from local storage, mostly
// the page cache, rather than over a network.
type localReader interface{ LocalReads() bool }

// cachedReader is an Export that can serve a read at once when its data
// is at hand. TryReadAt fills b from off and returns true, or returns
// false, having waited for nothing, when it would have to wait (for a lock
// or the disk); the server then calls ReadAt. It returns false on errors
// too, leaving ReadAt to report them.
type cachedReader interface {
	TryReadAt(b []byte, off int64) bool
}

// tryRead serves READ r from the request loop if exp has its data at
// hand, and reports whether it did; the reply is sent by another
// goroutine, so that the loop goes on reading requests.
func (c *conn) tryRead(exp cachedReader, r request) (done bool) {
	buf := c.s.bufs.get(int(r.length))
	defer func() {
		// A panic leaves buf to the garbage collector: it may be queued.
		if p := recover(); p != nil {
			c.s.log.Error("nbd request panicked", "type", r.typ, "panic", p, "stack", string(debug.Stack()))
			c.replyErr(r, errIO)
			done = true
		}
	}()
	if !exp.TryReadAt(*buf, int64(r.off)) {
		c.s.bufs.put(buf)
		return false
	}
	// The buffer goes back to the pool once sent.
	c.replyRead(r.handle, r.off, *buf, buf, sendAsync)
	return true
}

// viewReader is an Export that can give the request loop its cached data
// to send straight from the page cache, without a copy into a buffer
// first: ViewAt calls send with the data of [off, off+n) as slices that
// stay steady until send returns and that send touches only through
// system calls, and reports true; or it returns false, having called
// nothing, when it cannot do that without waiting.
type viewReader interface {
	ViewAt(off int64, n int, send func(views [][]byte)) bool
}

// sendView answers READ r from the request loop with the export's views
// of the data, and reports whether it did. It writes only while no other
// reply is being sent (replies must not interleave), and only what the
// socket takes at once: the views hold the export's data steady, which
// must not wait on the client. What the socket does not take is copied
// into a buffer and queued for a goroutine to send.
func (c *conn) sendView(exp viewReader, r request) (done bool) {
	if c.raw == nil {
		return false
	}
	c.qmu.Lock()
	if c.sending {
		c.qmu.Unlock()
		return false
	}
	c.sending = true
	c.qmu.Unlock()
	var (
		rest [][]byte
		werr error
		buf  *[]byte
	)
	defer func() {
		if p := recover(); p != nil {
			c.s.log.Error("nbd request panicked", "type", r.typ, "panic", p, "stack", string(debug.Stack()))
			c.nc.Close() // a reply may be half written
			done, werr = true, fmt.Errorf("panic: %v", p)
		}
		c.qmu.Lock()
		if werr != nil {
			c.nc.Close()
		}
		if buf != nil {
			c.queue = append([][]byte{*buf}, c.queue...)
			c.queueBufs = append(c.queueBufs, buf)
			c.queued += len(*buf)
		}
		if len(c.queue) == 0 {
			c.sending = false
			c.qmu.Unlock()
			return
		}
		// Replies queued meanwhile (or the rest of this one) were left to
		// this goroutine, the sender.
		c.sendLater()
	}()
	h := c.readHeader(r.handle, r.off, int(r.length))
	return exp.ViewAt(int64(r.off), int(r.length), func(views [][]byte) {
		out := append(append(make([][]byte, 0, len(views)+1), h), views...)
		if rest, werr = writeNow(c.raw, out); werr != nil || len(rest) == 0 {
			return
		}
		n := 0
		for _, b := range rest {
			n += len(b)
		}
		buf = c.s.bufs.get(n)
		k := 0
		for _, b := range rest {
			k += copy((*buf)[k:], b)
		}
	})
}

// check validates a request against the export before any I/O.
func check(r request, size uint64, flags uint16) uint32 {
	readOnly := flags&tflagReadOnly != 0
	allowed := uint16(0)
	switch r.typ {
	case cmdRead, cmdFlush:
	case cmdWrite, cmdTrim:
		allowed = cmdFlagFUA
	case cmdWriteZeroes:
		allowed = cmdFlagFUA | cmdFlagNoHole | cmdFlagFastZ
	case cmdBlockStatus:
		allowed = cmdFlagReqOne
	default:
		return errInval // CACHE, RESIZE: not advertised
	}
	if r.flags&^allowed != 0 {
		return errInval
	}
	if readOnly && r.typ != cmdRead && r.typ != cmdFlush && r.typ != cmdBlockStatus {
		return errPerm
	}
	if r.typ == cmdFlush {
		return 0
	}
	if r.typ == cmdRead && r.length > maxPayload {
		return errOverflow
	}
	if r.off > size || uint64(r.length) > size-r.off {
		if r.typ == cmdWrite || r.typ == cmdWriteZeroes {
			return errNoSpc
		}
		return errInval
	}
	return 0
}

// serve serves r and queues its reply. With inline (the request loop
// serving a sequential READ itself) another goroutine sends the data, so
// that the loop's next read from the export overlaps this send.
func (c *conn) serve(ctx context.Context, exp Export, r request, inline bool) {
	// A bug in one request answers EIO to it rather than taking down
	// every export on the node.
	defer func() {
		if p := recover(); p != nil {
			c.s.log.Error("nbd request panicked", "type", r.typ, "panic", p, "stack", string(debug.Stack()))
			c.replyErr(r, errIO)
		}
	}()
	var err error
	off, n := int64(r.off), int64(r.length)
	switch r.typ {
	case cmdRead:
		buf := c.s.bufs.get(int(r.length))
		if err = exp.ReadAt(ctx, *buf, off); err == nil {
			// The buffer goes back to the pool once sent.
			mode := sendNow
			if inline {
				mode = sendAsync
			}
			c.replyRead(r.handle, r.off, *buf, buf, mode)
			return
		}
		c.s.bufs.put(buf)
	case cmdWrite:
		err = exp.WriteAt(ctx, *r.buf, off)
		c.s.bufs.put(r.buf)
	case cmdFlush:
		err = exp.Flush(ctx)
	case cmdTrim:
		err = exp.Trim(ctx, off, n)
	case cmdWriteZeroes:
		err = exp.Zero(ctx, off, n, r.flags&cmdFlagNoHole != 0)
	case cmdBlockStatus:
		c.blockStatus(ctx, exp, r)
		return
	}
	if err == nil && r.flags&cmdFlagFUA != 0 {
		err = exp.Flush(ctx)
	}
	e := uint32(0)
	if err != nil {
		e = errno(err)
		c.s.log.Warn("nbd request failed", "remote", c.nc.RemoteAddr().String(), "cmd", r.typ,
			"offset", off, "length", n, "err", err)
	}
	c.replyErr(r, e)
}

// errno0 is errno, and 0 for success.
func errno0(err error) uint32 {
	if err == nil {
		return 0
	}
	return errno(err)
}

// replyErr answers r without data: a simple reply, except that once
// structured replies are negotiated a READ or BLOCK_STATUS error must be
// a structured one.
func (c *conn) replyErr(r request, e uint32) error {
	return c.send(c.errHeader(r, e), nil, nil)
}

// errHeader is replyErr's reply.
func (c *conn) errHeader(r request, e uint32) []byte {
	if e != 0 && c.structured && (r.typ == cmdRead || r.typ == cmdBlockStatus) {
		return errorChunk(r.handle, e)
	}
	return simpleHeader(r.handle, e)
}

// reply sends a simple reply without data. Replies are combined: whoever
// finds the socket free writes everything queued so far with one writev,
// while the others return at once, leaving their reply (and buffer) to it.
// At queue depth 32 this cuts the send syscalls for small requests
// several-fold. A failed send closes the connection, which ends the
// request loop.
func (c *conn) reply(handle uint64, e uint32) error {
	return c.send(simpleHeader(handle, e), nil, nil)
}

func simpleHeader(handle uint64, e uint32) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint32(h[0:], magicSimpleRep)
	binary.BigEndian.PutUint32(h[4:], e)
	binary.BigEndian.PutUint64(h[8:], handle)
	return h
}

// send queues one reply (header h, then data) and sends it as reply
// describes.
func (c *conn) send(h, data []byte, buf *[]byte) error {
	return c.enqueue(h, data, buf, sendNow)
}

// maxQueued bounds the reply data queued on a connection: while more is
// queued the request loop waits for the sender, so a client that stops
// reading replies stops the server reading its requests instead of
// filling memory.
const maxQueued = 16 << 20

// waitQueue waits until the queued replies are within maxQueued.
func (c *conn) waitQueue() {
	c.qmu.Lock()
	for c.queued > maxQueued {
		c.drained.Wait()
	}
	c.qmu.Unlock()
}

// sendMode says who sends the queue when a reply is queued while no
// goroutine is sending.
type sendMode int

const (
	sendNow   sendMode = iota // the caller, waiting for the socket
	sendAsync                 // a goroutine started for it
	sendOwed                  // the caller's next asyncReplies.Flush
)

// enqueue queues one reply; if no goroutine is sending, mode says who
// sends the queue.
func (c *conn) enqueue(h, data []byte, buf *[]byte, mode sendMode) error {
	c.qmu.Lock()
	c.queue = append(c.queue, h)
	if len(data) > 0 {
		c.queue = append(c.queue, data)
	}
	c.queued += len(h) + len(data)
	if buf != nil {
		c.queueBufs = append(c.queueBufs, buf)
	}
	if c.sending {
		c.qmu.Unlock()
		return nil
	}
	c.sending = true
	switch mode {
	case sendOwed:
		// The connection stays open until the Flush.
		c.owed = true
		c.wg.Add(1)
		c.qmu.Unlock()
		return nil
	case sendAsync:
		c.sendLater()
		return nil
	}
	return c.sendLocked(true)
}

// sendLater releases c.qmu, held by the sender, and leaves the queue to a
// goroutine, so that the caller (the request loop) goes on.
func (c *conn) sendLater() {
	c.qmu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.qmu.Lock()
		c.sendLocked(true)
	}()
}

// sendLocked writes the queue until it is empty; c.qmu is held on entry
// and released on return. Unless wait, it only writes what the socket
// takes at once (a connection whose socket it can write without waiting,
// see conn.raw) and leaves the rest to a goroutine it starts.
func (c *conn) sendLocked(wait bool) error {
	var err error
	for len(c.queue) > 0 {
		out, bufs := c.queue, c.queueBufs
		c.queue, c.queueBufs = c.spare[:0], c.spareBufs[:0]
		c.qmu.Unlock()
		n := 0
		for _, b := range out {
			n += len(b)
		}
		if err == nil {
			rest, werr := out, error(nil)
			if wait {
				rest, werr = nil, c.write(out)
			} else if c.raw != nil {
				rest, werr = writeNow(c.raw, out)
			}
			if werr == nil && len(rest) > 0 {
				c.wg.Add(1)
				go func() {
					defer c.wg.Done()
					c.sent(out, bufs, n, c.write(rest))
					c.sendLocked(true)
				}()
				return nil
			}
			if werr != nil {
				c.nc.Close()
				err = fmt.Errorf("reply: %w", werr)
			}
		}
		c.sent(out, bufs, n, nil)
	}
	c.sending = false
	c.qmu.Unlock()
	return err
}

// write writes bs to the connection, waiting for the socket.
func (c *conn) write(bs [][]byte) error {
	nb := net.Buffers(bs)
	_, err := nb.WriteTo(c.nc)
	return err
}

// sent releases a batch of n bytes that sendLocked took off the queue
// and wrote (or failed to write: werr) and retakes c.qmu.
func (c *conn) sent(out [][]byte, bufs []*[]byte, n int, werr error) {
	if werr != nil {
		c.nc.Close()
	}
	for _, b := range bufs {
		c.s.bufs.put(b)
	}
	clear(out)
	clear(bufs)
	c.qmu.Lock()
	c.spare, c.spareBufs = out[:0], bufs[:0]
	c.queued -= n
	c.drained.Broadcast()
}
