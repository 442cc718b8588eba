//go:build ceph

package rbd

// #cgo LDFLAGS: -lrbd
// #include <stdint.h>
// #include <sys/types.h>
import "C"

import "runtime/cgo"

// rbdDone is called by librbd's completion thread (through the trampoline
// in aiocall.go) when an asynchronous request ends; req is the cgo.Handle
// of the request's *aioReq.
//
//export rbdDone
func rbdDone(req C.uintptr_t, ret C.ssize_t) {
	h := cgo.Handle(req)
	h.Value().(*aioReq).finish(h, int64(ret))
}
