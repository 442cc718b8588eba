package objectstore

import (
	"sync"

	md5simd "github.com/minio/md5-simd"
)

// lanesMin is the declared size from which a body's MD5 goes to the SIMD
// lanes. Below it crypto/md5 on the request's goroutine is cheaper than
// registering with the lanes' goroutine (channel round trips a small PUT
// would notice), and a small body has little to gain.
const lanesMin = copyBuf

// md5Lanes computes the MD5 (the ETag) of concurrent large bodies side by
// side, each in a lane of one goroutine's AVX2/AVX-512 registers
// (github.com/minio/md5-simd; crypto/md5 where the CPU has neither).
// Profiled, MD5 was 70 % of the server's CPU in four concurrent 64 MiB
// PUTs: crypto/md5 hashes one stream per core at about 600 MB/s, while
// four streams in lanes of one core hash about 1.7 GB/s. A lone body is
// hashed by the lanes' goroutine too, beside the request's goroutine
// receiving the next bytes. The lanes' goroutine is started by the first
// large body and ends with Close once no hasher is left.
type md5Lanes struct {
	mu     sync.Mutex
	srv    md5simd.Server
	active int // hashers handed out and not yet released
	closed bool
}

// hasher returns an MD5 for a body of size bytes (the Limit of its
// PutOptions, or 0 when unknown); release gives it back once its Sum is
// taken or the body is abandoned.
func (l *md5Lanes) hasher(size int64) (h md5simd.Hasher, release func()) {
	if size > 0 && size < lanesMin {
		return stdHasher()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return stdHasher()
	}
	if l.srv == nil {
		l.srv = md5simd.NewServer()
	}
	l.active++
	h = l.srv.NewHash()
	var once sync.Once
	return h, func() {
		once.Do(func() {
			h.Close()
			l.mu.Lock()
			defer l.mu.Unlock()
			l.active--
			l.stopIdle()
		})
	}
}

func stdHasher() (md5simd.Hasher, func()) {
	h := md5simd.StdlibHasher()
	return h, h.Close
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
	if l.closed && l.active == 0 && l.srv != nil {
		l.srv.Close()
		l.srv = nil
	}
}
