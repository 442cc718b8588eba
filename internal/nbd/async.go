package nbd

import (
	"runtime/debug"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// asyncSlot is a READ or WRITE started on an AsyncExport.
type asyncSlot struct {
	r   request
	buf *[]byte // the READ's data or the WRITE's payload
}

// asyncReplies is a connection's Completer: the requests it started on an
// AsyncExport, by tag, and the replies to them.
type asyncReplies struct {
	c     *conn
	mu    sync.Mutex
	slots []asyncSlot
	free  []uint64 // tags of unused slots
}

func newAsyncReplies(c *conn, n int) *asyncReplies {
	a := &asyncReplies{c: c, slots: make([]asyncSlot, n), free: make([]uint64, n)}
	for i := range a.free {
		a.free[i] = uint64(n - 1 - i)
	}
	return a
}

// start starts READ or WRITE r on exp. The caller holds a slot of c.sem,
// which bounds the requests in flight to len(a.slots); Done releases it.
func (a *asyncReplies) start(exp AsyncExport, r request) {
	buf := r.buf
	if r.typ == cmdRead {
		buf = a.c.s.bufs.get(int(r.length))
	}
	a.mu.Lock()
	tag := a.free[len(a.free)-1]
	a.free = a.free[:len(a.free)-1]
	a.slots[tag] = asyncSlot{r: r, buf: buf}
	a.mu.Unlock()
	if r.typ == cmdRead {
		exp.ReadAtAsync(*buf, int64(r.off), a, tag)
		return
	}
	exp.WriteAtAsync(*buf, int64(r.off), a, tag)
}

// Done queues the reply to the request tag; the Flush that follows sends
// it.
func (a *asyncReplies) Done(tag uint64, err error) {
	a.mu.Lock()
	s := a.slots[tag]
	a.slots[tag] = asyncSlot{}
	a.free = append(a.free, tag)
	a.mu.Unlock()
	c, r := a.c, s.r
	defer func() { <-c.sem; c.wg.Done() }()
	defer func() {
		if p := recover(); p != nil {
			c.s.log.Error("nbd request panicked", "type", r.typ, "panic", p, "stack", string(debug.Stack()))
			c.enqueue(c.errHeader(r, errIO), nil, nil, sendOwed)
		}
	}()
	switch {
	case err == nil && r.typ == cmdRead:
		// The buffer goes back to the pool once sent.
		c.replyRead(r.handle, r.off, *s.buf, s.buf, sendOwed)
		return
	case err != nil:
		c.s.log.Warn("nbd request failed", "remote", c.nc.RemoteAddr().String(), "cmd", r.typ,
			"offset", r.off, "length", r.length, "err", err)
	}
	c.s.bufs.put(s.buf)
	c.enqueue(c.errHeader(r, errno0(err)), nil, nil, sendOwed)
}

// Flush sends the replies the Dones before it queued, if no other
// goroutine is sending, without waiting for a client that does not read:
// what the socket does not take at once goes to a goroutine.
func (a *asyncReplies) Flush() {
	c := a.c
	c.qmu.Lock()
	if !c.owed {
		c.qmu.Unlock()
		return
	}
	c.owed = false
	c.sendLocked(false)
	c.wg.Done() // taken with owed
}

// writeNow writes bs to rc's socket as far as it takes them without
// waiting, and returns what is left: bs with what was written cut off.
func writeNow(rc syscall.RawConn, bs [][]byte) ([][]byte, error) {
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for len(bs) > 0 {
			n, err := unix.Writev(int(fd), bs[:min(len(bs), maxIovecs)])
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				if err != unix.EAGAIN {
					werr = err
				}
				return true
			}
			if n == 0 {
				return true
			}
			for len(bs) > 0 && n >= len(bs[0]) {
				n -= len(bs[0])
				bs = bs[1:]
			}
			if n > 0 {
				bs[0] = bs[0][n:]
			}
		}
		return true
	})
	if err == nil {
		err = werr
	}
	return bs, err
}

// maxIovecs is the most buffers one writev takes (IOV_MAX).
const maxIovecs = 1024
