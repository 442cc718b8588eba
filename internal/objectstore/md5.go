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
	feed   chan laneWrite // to the feeder of srv's lanes (see feedLanes)
	large  int            // large bodies being hashed, in lanes or not
	active int            // lane hashers handed out and not yet released
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
			l.feed = make(chan laneWrite)
			go feedLanes(l.feed)
		}
		l.active++
		h = &laneHasher{Hasher: l.srv.NewHash(), feed: l.feed, done: make(chan struct{}, 1)}
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
		close(l.feed)
		l.srv.Close()
		l.srv, l.feed = nil, nil
	}
}

// laneHasher is a body's lane: its Writes go through the lanes' feeder.
type laneHasher struct {
	md5simd.Hasher
	feed chan<- laneWrite
	done chan struct{}
}

// Write hands p to the feeder and returns once md5-simd has taken all
// of it (it copies what it is given), so p may be reused at once.
func (h *laneHasher) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	h.feed <- laneWrite{h: h.Hasher, p: p, done: h.done}
	<-h.done
	return len(p), nil
}

type laneWrite struct {
	h    md5simd.Hasher
	p    []byte
	done chan<- struct{}
}

// laneStep is the most md5-simd hashes of one lane per cycle (its
// internal block size).
const laneStep = 32 << 10

// feedLanes writes the bodies' bytes to their lanes a laneStep at a
// time, round robin, until feed is closed. md5-simd hashes per cycle one
// block of every lane that has one queued, and hashes a cycle of fewer
// than three lanes one by one in scalar code. Written each from its own
// goroutine, 4 MiB at a time, the lanes were fed unevenly (a writer
// whose queue of three blocks was full waited for a P while the hashing
// goroutine ran on): profiled with four 64 MiB PUTs in flight, scalar
// hashing was 18 % of the server's CPU beside 31 % vector hashing; fed
// in turns, 8 % beside 36 %, and the server's CPU per GiB fell by a
// tenth. One writer taking turns keeps every busy lane's queue equally
// full.
func feedLanes(feed <-chan laneWrite) {
	var busy []laneWrite
	for {
		if len(busy) == 0 {
			w, ok := <-feed
			if !ok {
				return
			}
			busy = append(busy, w)
		}
	more:
		for {
			select {
			case w, ok := <-feed:
				if !ok {
					return // no Write is waiting: release closes feed only when none is out
				}
				busy = append(busy, w)
			default:
				break more
			}
		}
		kept := busy[:0]
		for _, w := range busy {
			n := min(len(w.p), laneStep)
			w.h.Write(w.p[:n]) // cannot fail: the hasher is open until its Write returns
			if w.p = w.p[n:]; len(w.p) == 0 {
				w.done <- struct{}{}
				continue
			}
			kept = append(kept, w)
		}
		clear(busy[len(kept):])
		busy = kept
	}
}
