// Package md5x8 computes the MD5 of several streams at once, each in a
// 32-bit lane of one goroutine's vector registers (eight lanes, AVX2 or
// AVX-512VL). MD5 is a chain of dependent steps, so one stream keeps a
// core waiting on latency; eight streams in lanes take about the time of
// one. The hashing goroutine reads the callers' buffers in place and
// never yields while a lane has work, which is what the S3 store's large
// PUTs need: see objectstore's md5Lanes.
package md5x8

//go:generate sh -c "go run asm/gen.go > md5x8_amd64.s"

import (
	"encoding/binary"
	"hash"
)

const (
	// Size is the size of an MD5 checksum in bytes.
	Size = 16
	// BlockSize is MD5's block size in bytes.
	BlockSize = 64
	lanes     = 8
	// maxStep bounds the bytes of one lane hashed per call, so that a
	// stream that joins waits at most one step to be given a lane.
	maxStep = 32 << 10
)

var initState = [4]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}

// Server is the goroutine that owns the lanes.
type Server struct {
	jobs chan job
	// idle feeds the lanes that have no stream: a lane reads as many
	// bytes as the others, and its result is dropped.
	idle [maxStep]byte
}

type job struct {
	h *Hash
	p []byte // whole blocks
}

// NewServer starts the lanes' goroutine; Close ends it.
func NewServer() *Server {
	s := &Server{jobs: make(chan job)}
	go s.run()
	return s
}

// Close ends the goroutine once no Write is in flight; the caller must
// not start Writes after it.
func (s *Server) Close() { close(s.jobs) }

// NewHash returns an MD5 whose whole blocks are hashed in the lanes.
func (s *Server) NewHash() *Hash {
	h := &Hash{srv: s, done: make(chan struct{}, 1)}
	h.Reset()
	return h
}

func (s *Server) run() {
	var (
		busy, next []job
		st         [4][lanes]uint32
		ptrs       [lanes]*byte
	)
	for {
		if len(busy) == 0 {
			j, ok := <-s.jobs
			if !ok {
				return
			}
			busy = append(busy, j)
		}
	more:
		for {
			select {
			case j, ok := <-s.jobs:
				if !ok {
					return // no Write is waiting: Close comes after the last
				}
				busy = append(busy, j)
			default:
				break more
			}
		}
		in := busy[:min(len(busy), lanes)]
		n := maxStep / BlockSize
		for _, j := range in {
			n = min(n, len(j.p)/BlockSize)
		}
		for l := range lanes {
			if l < len(in) {
				for w := range 4 {
					st[w][l] = in[l].h.s[w]
				}
				ptrs[l] = &in[l].p[0]
			} else {
				ptrs[l] = &s.idle[0]
			}
		}
		block(&st, &ptrs, n)
		// Streams beyond the eight lanes go first next time.
		next = append(next[:0], busy[len(in):]...)
		for l, j := range in {
			for w := range 4 {
				j.h.s[w] = st[w][l]
			}
			if j.p = j.p[n*BlockSize:]; len(j.p) == 0 {
				j.h.done <- struct{}{}
				continue
			}
			next = append(next, j)
		}
		clear(busy)
		busy, next = next, busy
	}
}

// Hash is one stream's MD5 (a hash.Hash). Its Write may run concurrently
// with other Hashes' Writes; one Hash is used by one goroutine at a time.
type Hash struct {
	srv  *Server
	s    [4]uint32
	x    [BlockSize]byte // a partial block
	nx   int
	len  uint64
	done chan struct{}
}

var _ hash.Hash = (*Hash)(nil)

func (h *Hash) Size() int      { return Size }
func (h *Hash) BlockSize() int { return BlockSize }

func (h *Hash) Reset() {
	h.s, h.nx, h.len = initState, 0, 0
}

// Write hashes p; it returns once p is hashed, so p may be reused.
func (h *Hash) Write(p []byte) (int, error) {
	n := len(p)
	h.len += uint64(n)
	if h.nx > 0 {
		c := copy(h.x[h.nx:], p)
		h.nx += c
		p = p[c:]
		if h.nx < BlockSize {
			return n, nil
		}
		blockOne(&h.s, h.x[:])
		h.nx = 0
	}
	if whole := len(p) &^ (BlockSize - 1); whole > 0 {
		h.srv.jobs <- job{h: h, p: p[:whole]}
		<-h.done
		p = p[whole:]
	}
	h.nx = copy(h.x[:], p)
	return n, nil
}

// Sum appends the MD5 of what was written to b; h is unchanged.
func (h *Hash) Sum(b []byte) []byte {
	s := h.s
	var tail [2 * BlockSize]byte
	k := copy(tail[:], h.x[:h.nx])
	tail[k] = 0x80
	end := BlockSize
	if k >= BlockSize-8 {
		end = 2 * BlockSize
	}
	binary.LittleEndian.PutUint64(tail[end-8:], h.len<<3)
	blockOne(&s, tail[:end])
	for _, w := range s {
		b = binary.LittleEndian.AppendUint32(b, w)
	}
	return b
}

// blockOne hashes the whole blocks of p into s on the caller's
// goroutine, in one lane: only a stream's partial blocks and its end take
// this way, so the lanes it leaves idle cost little.
func blockOne(s *[4]uint32, p []byte) {
	var st [4][lanes]uint32
	var ptrs [lanes]*byte
	for w := range 4 {
		st[w][0] = s[w]
	}
	for l := range ptrs {
		ptrs[l] = &p[0]
	}
	block(&st, &ptrs, len(p)/BlockSize)
	for w := range 4 {
		s[w] = st[w][0]
	}
}
