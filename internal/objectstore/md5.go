package objectstore

import (
	"sync"

	md5simd "github.com/minio/md5-simd"
)

// lanesMin is the declared size from which a body's MD5 may go to the
// SIMD lanes. Below it crypto/md5 on the request's goroutine is cheaper
// than registering with the lanes' goroutine (channel round trips a small
// PUT would notice), and a small body has little to gain.
const lanesMin = copyBuf

// lanesFrom is how many large bodies must be in flight, this one
// included, for it to take a lane. Fewer lanes than that are hashed one
// by one anyway (md5-simd's own threshold), after a copy and a hand-off
// per 32 KiB: a lone 64 MiB PUT measured 2.87 and 3.02 s of server CPU
// per GiB through the lanes against 2.58 and 2.52 with crypto/md5.
const lanesFrom = 3

// md5Lanes computes the MD5 (the ETag) of concurrent large bodies side by
// side, each in a lane of one goroutine's AVX2/AVX-512 registers
// (github.com/minio/md5-simd; crypto/md5 where the CPU has neither).
// Profiled, MD5 was 70 % of the server's CPU in four concurrent 64 MiB
// PUTs: crypto/md5 hashes one stream per core at about 600 MB/s, while
// four streams in lanes of one core hash about 1.7 GB/s. A body takes a
// lane only when enough others are in flight to fill some (lanesFrom).
// The lanes' goroutine is started by the first body to take a lane and
// ends when the last lane hasher is released: bursts of large uploads are
// rare next to the time between them, and an idle node keeps no goroutine
// or lane buffers for them.
type md5Lanes struct {
	mu     sync.Mutex
	srv    md5simd.Server
	large  int // large bodies being hashed, in lanes or not
	active int // lane hashers handed out and not yet released
	closed bool
}

// hasher returns an MD5 for a body of size bytes (the Limit of its
// PutOptions, or 0 when unknown); release gives it back once its Sum is
// taken or the body is abandoned.
func (l *md5Lanes) hasher(size int64) (h md5simd.Hasher, release func()) {
	if size > 0 && size < lanesMin {
		h = md5simd.StdlibHasher()
		return h, h.Close
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.large++
	lane := l.large >= lanesFrom && !l.closed
	if lane {
		if l.srv == nil {
			l.srv = md5simd.NewServer()
		}
		l.active++
		h = l.srv.NewHash()
	} else {
		h = md5simd.StdlibHasher()
	}
	var once sync.Once
	return h, func() {
		once.Do(func() {
			h.Close()
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
