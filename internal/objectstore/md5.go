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

// lanesFrom is how many large bodies must be in flight, this one
// included, for it to take a lane. One or two bodies hash as fast each
// on its own goroutine with crypto/md5 (a lane alone goes at crypto/md5's
// pace), without a hand-off per 32 KiB.
const lanesFrom = 3

// md5Lanes computes the MD5 (the ETag) of concurrent large bodies side by
// side, each in a lane of one goroutine's vector registers (md5x8;
// crypto/md5 where the CPU has no AVX2). Profiled, MD5 was 70 % of the
// server's CPU in four concurrent 64 MiB PUTs: crypto/md5 hashes one
// stream per core at about 650 MB/s, four streams in lanes of one core
// 2.6 GB/s. A body takes a lane only when enough others are in flight to
// fill some (lanesFrom). The lanes' goroutine is started by the first
// body to take a lane and ends when the last lane hasher is released:
// bursts of large uploads are rare next to the time between them, and an
// idle node keeps no goroutine for them.
type md5Lanes struct {
	mu     sync.Mutex
	srv    *md5x8.Server
	large  int // large bodies being hashed, in lanes or not
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
	l.large++
	lane := l.large >= lanesFrom && !l.closed && md5x8.Available()
	if lane {
		if l.srv == nil {
			l.srv = md5x8.NewServer()
		}
		l.active++
		h = l.srv.NewHash()
	} else {
		h = md5.New()
	}
	var once sync.Once
	return h, func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.large--
			if lane {
				l.active--
				l.stopIdle()
			}
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
