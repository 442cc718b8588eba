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
	"io"
	"reflect"
	"runtime"
	"runtime/cgo"
	"syscall"
	"unsafe"

	"github.com/ceph/go-ceph/rbd"
)

// aioReq is one asynchronous librbd request in flight.
type aioReq struct {
	pin  runtime.Pinner // the request's buffer, which librbd holds
	done func(ret int64)
	r    *reaper
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
	ch := make(chan int64, 1)
	r.start(op, off, n, b, func(ret int64) { ch <- ret })
	return <-ch
}

// start starts one request on the reaper's image; done gets librbd's
// result on the reaper's goroutine (so it must not block) or, if the
// request could not start, at once.
func (r *reaper) start(op int, off, n uint64, b []byte, done func(ret int64)) {
	r.inflight.Add(1)
	q := &aioReq{done: done, r: r}
	var p *C.char
	if len(b) > 0 {
		q.pin.Pin(&b[0])
		p = (*C.char)(unsafe.Pointer(&b[0]))
	}
	h := cgo.NewHandle(q)
	if ret := int64(C.rbd_submit(C.rbd_image_t(r.img), C.int(op), C.uint64_t(off), C.size_t(n), p, C.uintptr_t(h))); ret < 0 {
		q.finish(h, ret)
	}
}

// reap finishes the requests that completed on img, up to reapMax, and
// returns how many it finished.
func reap(img rawImage) int {
	var reqs [reapMax]C.uintptr_t
	var rets [reapMax]C.int64_t
	n := int(C.rbd_reap(C.rbd_image_t(img), &reqs[0], &rets[0]))
	for i := range n {
		h := cgo.Handle(reqs[i])
		h.Value().(*aioReq).finish(h, int64(rets[i]))
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

func (q *aioReq) finish(h cgo.Handle, ret int64) {
	h.Delete()
	q.pin.Unpin()
	q.done(ret)
	q.r.inflight.Done()
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
