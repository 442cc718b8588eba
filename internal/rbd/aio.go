//go:build ceph

package rbd

import (
	"fmt"
	"os"

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
			return // closed by stop: the poller waits out EAGAIN
		}
		for reap(r.img) == reapMax {
		}
	}
}

// stop ends the goroutine; the image must be closed already, so that no
// request is left to finish and librbd no longer signals the eventfd.
func (r *reaper) stop() {
	r.ev.Close()
	<-r.done
}
