//go:build ceph

package rbd

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// reaper finishes an image's asynchronous requests. librbd queues each
// completed request on the image and signals an eventfd; one goroutine
// waits on it in Go's poller and finishes every queued request with one
// call into C. A callback from librbd's thread into Go per request instead
// costs that thread a Go scheduler hand-off each time (and keeps the
// runtime's monitor retaking processors from it): on 2 cores the NBD
// server spent about as much CPU per request on that as librbd itself.
type reaper struct {
	img  rawImage
	ev   *os.File
	done chan struct{}
	// inflight counts the requests started and not yet finished.
	inflight sync.WaitGroup
	// mu is held while reaping: once closed is set under it, no reap
	// touches the image, which close then frees.
	mu     sync.Mutex
	closed bool
	// told lists the completers told of a reaped batch, each owed a
	// Flush: one per batch lets the NBD server send a batch's replies
	// with one write, from this goroutine.
	told []completer
	reqs sync.Pool // *aioReq
}

// startReaper has librbd signal a new eventfd for img's completions and
// starts the goroutine that finishes them.
func startReaper(img rawImage) (*reaper, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("rbd completions: eventfd: %w", err)
	}
	if err := notifyEventfd(img, fd); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("rbd completions: %w", err)
	}
	r := &reaper{img: img, ev: os.NewFile(uintptr(fd), "rbd-completions"), done: make(chan struct{})}
	go r.run()
	return r, nil
}

func (r *reaper) run() {
	defer close(r.done)
	var b [8]byte
	for {
		// The counter is reset by the read; a completion queued after
		// the reap below signals again, so none is left waiting.
		if _, err := r.ev.Read(b[:]); err != nil {
			return // closed by close: the poller waits out EAGAIN
		}
		r.mu.Lock()
		for !r.closed && r.reap() == reapMax {
		}
		r.mu.Unlock()
		for i, to := range r.told {
			to.Flush()
			r.told[i] = nil
		}
		r.told = r.told[:0]
	}
}

// close waits for the requests in flight, frees the image with
// closeImage and ends the goroutine. librbd queues a completion before it
// signals the eventfd, so a wake-up may still be pending once every
// request is finished: it must find the image marked closed, not freed.
// The eventfd outlives the image because librbd may signal it until
// rbd_close returns, and a closed descriptor's number may by then be
// another file's.
func (r *reaper) close(closeImage func() error) error {
	r.inflight.Wait()
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	err := closeImage()
	r.ev.Close()
	<-r.done
	return err
}
