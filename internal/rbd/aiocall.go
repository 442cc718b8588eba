//go:build ceph

package rbd

/*
#cgo LDFLAGS: -lrbd
#include <errno.h>
#include <stdint.h>
#include <rbd/librbd.h>

extern void rbdDone(uintptr_t req, ssize_t ret);

static void rbd_done_cb(rbd_completion_t c, void *arg) {
	ssize_t ret = rbd_aio_get_return_value(c);
	rbd_aio_release(c);
	rbdDone((uintptr_t)arg, ret);
}

enum { AIO_READ, AIO_WRITE, AIO_DISCARD, AIO_FLUSH };

// rbd_submit starts one asynchronous request; rbdDone(req, result) follows
// unless it returns an error.
static int rbd_submit(rbd_image_t img, int op, uint64_t off, size_t len, char *buf, uintptr_t req) {
	rbd_completion_t c;
	int r = rbd_aio_create_completion((void *)req, rbd_done_cb, &c);
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

// imageHandle is go-ceph's librbd handle inside img, which go-ceph does
// not export. The asynchronous calls need it: go-ceph v0.34 has only the
// synchronous ones, which hold an OS thread per request in flight.
func imageHandle(img *rbd.Image) rawImage {
	f := reflect.ValueOf(img).Elem().FieldByName("image")
	return *(*rawImage)(unsafe.Pointer(f.UnsafeAddr()))
}

// aio runs one request through librbd's asynchronous interface and waits
// for it: the goroutine parks instead of blocking an OS thread in C.
// It returns librbd's result: bytes read, or 0, or -errno.
func aio(img rawImage, op int, off, n uint64, b []byte) int64 {
	ch := make(chan int64, 1)
	startAIO(img, op, off, n, b, func(ret int64) { ch <- ret })
	return <-ch
}

// startAIO starts one request; done gets librbd's result, on librbd's
// completion thread (so it must not block) or, if the request could not
// start, at once.
func startAIO(img rawImage, op int, off, n uint64, b []byte, done func(ret int64)) {
	r := &aioReq{done: done}
	var p *C.char
	if len(b) > 0 {
		r.pin.Pin(&b[0])
		p = (*C.char)(unsafe.Pointer(&b[0]))
	}
	h := cgo.NewHandle(r)
	if ret := int64(C.rbd_submit(C.rbd_image_t(img), C.int(op), C.uint64_t(off), C.size_t(n), p, C.uintptr_t(h))); ret < 0 {
		r.finish(h, ret)
	}
}

func (r *aioReq) finish(h cgo.Handle, ret int64) {
	h.Delete()
	r.pin.Unpin()
	r.done(ret)
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
