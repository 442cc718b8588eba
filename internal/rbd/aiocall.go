//go:build ceph

package rbd

/*
#cgo LDFLAGS: -lrbd
#include <errno.h>
#include <stdint.h>
#include <rbd/librbd.h>

enum { AIO_READ, AIO_WRITE, AIO_DISCARD, AIO_FLUSH };

// rbd_submit starts one asynchronous request. Its completion has no
// callback: librbd queues it on the image and signals the image's
// eventfd (see rbd_reap), unless rbd_submit returns an error.
static int rbd_submit(rbd_image_t img, int op, uint64_t off, size_t len, char *buf, uintptr_t req) {
	rbd_completion_t c;
	int r = rbd_aio_create_completion((void *)req, NULL, &c);
	if (r < 0)
		return r;
	switch (op) {
	case AIO_READ:
		r = rbd_aio_read(img, off, len, buf, c);
		break;
	case AIO_WRITE:
		r = rbd_aio_write(img, off, len, buf, c);
		break;
	case AIO_DISCARD:
		r = rbd_aio_discard(img, off, len, c);
		break;
	default:
		r = rbd_aio_flush(img, c);
	}
	if (r < 0)
		rbd_aio_release(c);
	return r;
}

enum { REAP_MAX = 64 };

// rbd_reap takes up to REAP_MAX finished requests off the image's queue,
// storing each one's request and result, and releases their completions:
// one call from Go per batch rather than one per request.
static int rbd_reap(rbd_image_t img, uintptr_t *reqs, int64_t *rets) {
	rbd_completion_t cs[REAP_MAX];
	int n = rbd_poll_io_events(img, cs, REAP_MAX);
	for (int i = 0; i < n; i++) {
		reqs[i] = (uintptr_t)rbd_aio_get_arg(cs[i]);
		rets[i] = rbd_aio_get_return_value(cs[i]);
		rbd_aio_release(cs[i]);
	}
	return n;
}
*/
import "C"

import (
	"fmt"
	"io"
	"reflect"
	"runtime"
	"runtime/cgo"
	"slices"
	"syscall"
	"unsafe"

	"github.com/ceph/go-ceph/rbd"
)

// aioReq is one asynchronous librbd request in flight. The reaper reuses
// them: a new one per request would cost its Pinner a finalizer each time.
type aioReq struct {
	pin runtime.Pinner // the request's buffer, which librbd holds
	r   *reaper
	// Either to is told of the result (a request the NBD server
	// started), or ch gets it (wait).
	to  completer
	tag uint64
	ch  chan int64
	op  int
	off uint64
	n   uint64
}

// completer is told when requests started for it end: Done once per
// request, then Flush after one or more Dones, on the same goroutine. It
// is the NBD server's nbd.Completer, spelled out so that this package
// need not import the protocol's.
type completer = interface {
	Done(tag uint64, err error)
	Flush()
}

// rawImage is a librbd image handle.
type rawImage C.rbd_image_t

// The requests aio runs.
const (
	opRead    = C.AIO_READ
	opWrite   = C.AIO_WRITE
	opDiscard = C.AIO_DISCARD
	opFlush   = C.AIO_FLUSH
)

// reapMax is the most completions one rbd_reap call returns.
const reapMax = C.REAP_MAX

// imageHandle is go-ceph's librbd handle inside img, which go-ceph does
// not export. The asynchronous calls need it: go-ceph v0.34 has only the
// synchronous ones, which hold an OS thread per request in flight.
func imageHandle(img *rbd.Image) rawImage {
	f := reflect.ValueOf(img).Elem().FieldByName("image")
	return *(*rawImage)(unsafe.Pointer(f.UnsafeAddr()))
}

// wait runs one request through librbd's asynchronous interface and
// waits for it: the goroutine parks instead of blocking an OS thread in
// C. It returns librbd's result: bytes read, or 0, or -errno.
func (r *reaper) wait(op int, off, n uint64, b []byte) int64 {
	q := r.req(op, off, n)
	q.ch = make(chan int64, 1)
	ch := q.ch
	r.start(q, b)
	return <-ch
}

// async starts one request on the reaper's image for to, which is told of
// its end on the reaper's goroutine or, if it could not start, at once.
func (r *reaper) async(op int, off uint64, b []byte, to completer, tag uint64) {
	q := r.req(op, off, uint64(len(b)))
	q.to, q.tag = to, tag
	r.start(q, b)
}

func (r *reaper) req(op int, off, n uint64) *aioReq {
	q, _ := r.reqs.Get().(*aioReq)
	if q == nil {
		q = &aioReq{r: r}
	}
	q.op, q.off, q.n = op, off, n
	return q
}

// start submits q, whose buffer is b.
func (r *reaper) start(q *aioReq, b []byte) {
	r.inflight.Add(1)
	var p *C.char
	if len(b) > 0 {
		q.pin.Pin(&b[0])
		p = (*C.char)(unsafe.Pointer(&b[0]))
	}
	h := cgo.NewHandle(q)
	if ret := int64(C.rbd_submit(C.rbd_image_t(r.img), C.int(q.op), C.uint64_t(q.off), C.size_t(q.n), p, C.uintptr_t(h))); ret < 0 {
		if to := q.finish(h, ret); to != nil {
			to.Flush()
		}
	}
}

// reap finishes the requests that completed on r's image, up to reapMax,
// adds whom it told to r.told and returns how many it finished.
func (r *reaper) reap() int {
	var reqs [reapMax]C.uintptr_t
	var rets [reapMax]C.int64_t
	n := int(C.rbd_reap(C.rbd_image_t(r.img), &reqs[0], &rets[0]))
	for i := range n {
		h := cgo.Handle(reqs[i])
		if to := h.Value().(*aioReq).finish(h, int64(rets[i])); to != nil && !slices.Contains(r.told, to) {
			r.told = append(r.told, to)
		}
	}
	return n
}

// notifyEventfd has librbd signal fd for every request on img that
// completes.
func notifyEventfd(img rawImage, fd int) error {
	if r := C.rbd_set_image_notification(C.rbd_image_t(img), C.int(fd), C.EVENT_TYPE_EVENTFD); r < 0 {
		return aioErr(r)
	}
	return nil
}

// finish ends q with librbd's result ret and returns the completer it
// told, which is owed a Flush.
func (q *aioReq) finish(h cgo.Handle, ret int64) completer {
	h.Delete()
	q.pin.Unpin()
	r, to, tag, ch := q.r, q.to, q.tag, q.ch
	err := q.result(ret)
	q.to, q.ch = nil, nil
	r.reqs.Put(q)
	if ch != nil {
		ch <- ret
	} else {
		to.Done(tag, err)
	}
	r.inflight.Done()
	return to
}

// result is the error for librbd's result ret of q: a failure, or a read
// short of q.n bytes (of an image shrunk meanwhile), or a write that
// reports a count other than q.n.
func (q *aioReq) result(ret int64) error {
	switch {
	case q.op == opRead && ret != int64(q.n):
		return fmt.Errorf("rbd read %d bytes at %d: %w", q.n, q.off, aioResult(ret))
	case q.op == opWrite && (ret < 0 || (ret > 0 && ret != int64(q.n))):
		return fmt.Errorf("rbd write %d bytes at %d: %w", q.n, q.off, aioResult(ret))
	}
	return nil
}

// aioErr is librbd's negative result as an error errno reads.
type aioErr int64

func (e aioErr) Error() string  { return syscall.Errno(-e).Error() }
func (e aioErr) ErrorCode() int { return int(e) }

// aioResult is the error for a result that is not the whole request: a
// failure, or a short read (of an image shrunk meanwhile).
func aioResult(n int64) error {
	if n < 0 {
		return kind(aioErr(n))
	}
	return io.ErrUnexpectedEOF
}
