package objectstore

import (
	"crypto/md5"
	"hash"
	"sync"

	"github.com/stowage/stowage/internal/md5x8"
)

// lanesMin is the declared size from which a body's MD5 may go to the
// SIMD lanes. Below it crypto/md5 on the request's goroutine is cheaper
// than handing blocks to the lanes' goroutine (channel round trips a small
// PUT would notice), and a small body has little to gain.
const lanesMin = copyBuf

// md5Lanes computes the MD5 (the ETag) of large bodies side by side, each
// in a lane of one goroutine's vector registers (md5x8; crypto/md5 where
// the CPU has no AVX2). Profiled, MD5 was 70 % of the server's CPU in four
// concurrent 64 MiB PUTs: crypto/md5 hashes one stream per core at about
// 650 MB/s, four streams in lanes of one core 2.6 GB/s. Every large body
// takes a lane, even alone: a lane alone goes at crypto/md5's pace, and
// one that others join costs nothing more (two PUTs at once spent 1.63
// and 1.73 s of server CPU per GiB so, 2.24 and 2.27 when each hashed on
// its own with crypto/md5). The lanes' goroutine is started by
// the first body to take a lane and ends when the last lane hasher is
// released: bursts of large uploads are rare next to the time between
// them, and an idle node keeps no goroutine for them.
type md5Lanes struct {
	mu     sync.Mutex
	srv    *md5x8.Server
	active int // lane hashers handed out and not yet released
	closed bool
}

// hasher returns an MD5 for a body of size bytes (the Limit of its
// PutOptions, or 0 when unknown); release gives it back once its Sum is
// taken or the body is abandoned.
func (l *md5Lanes) hasher(size int64) (h hash.Hash, release func()) {
	if size > 0 && size < lanesMin {
		return md5.New(), func() {}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || !md5x8.Available() {
		return md5.New(), func() {}
	}
	if l.srv == nil {
		l.srv = md5x8.NewServer()
	}
	l.active++
	var once sync.Once
	return l.srv.NewHash(), func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.active--
			l.stopIdle()
		})
	}
}

// close ends the lanes' goroutine, at once if no hasher is out, else when
// the last is released; later bodies use crypto/md5.
func (l *md5Lanes) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.stopIdle()
}

func (l *md5Lanes) stopIdle() {
	if l.active == 0 && l.srv != nil {
		l.srv.Close()
		l.srv = nil
	}
}
