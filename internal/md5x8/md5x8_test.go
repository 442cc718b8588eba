//go:build amd64

package md5x8

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"golang.org/x/sys/cpu"
)

func needLanes(t testing.TB) {
	if !Available() {
		t.Fatal("this CPU has no AVX2: the lanes cannot be tested here")
	}
}

type kernel struct {
	name string
	fn   func(*[4][8]uint32, *[8]*byte, int)
}

// kernels are the block functions this CPU runs.
func kernels() []kernel {
	k := []kernel{{"avx2", blockAVX2}}
	if cpu.X86.HasAVX512VL {
		k = append(k, kernel{"avx512", blockAVX512})
	}
	return k
}

// TestKernels runs each block function on eight different streams of
// different contents and compares every lane with crypto/md5's state,
// read through Sum of a stream that ends on a block boundary.
func TestKernels(t *testing.T) {
	needLanes(t)
	const blocks = 37
	rng := rand.New(rand.NewPCG(1, 2))
	var data [lanes][]byte
	for l := range data {
		data[l] = make([]byte, blocks*BlockSize)
		for i := range data[l] {
			data[l][i] = byte(rng.Uint32())
		}
	}
	for _, k := range kernels() {
		var st [4][lanes]uint32
		var ptrs [lanes]*byte
		for l := range lanes {
			for w := range 4 {
				st[w][l] = initState[w]
			}
			ptrs[l] = &data[l][0]
		}
		k.fn(&st, &ptrs, blocks)
		for l := range lanes {
			h := &Hash{len: blocks * BlockSize}
			for w := range 4 {
				h.s[w] = st[w][l]
			}
			want := md5.Sum(data[l])
			if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
				t.Errorf("%s lane %d: %x, want %x", k.name, l, got, want)
			}
		}
	}
}

// TestConcurrentStreams hashes more streams than there are lanes, each
// written in pieces of random sizes (partial blocks, single bytes, whole
// megabytes), and checks every sum against crypto/md5.
func TestConcurrentStreams(t *testing.T) {
	needLanes(t)
	s := NewServer()
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 11 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			size := rng.IntN(3<<20) + i
			data := make([]byte, size)
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			h := s.NewHash()
			for off := 0; off < size; {
				n := min(size-off, []int{1, 63, 64, 65, 4096, 1 << 20}[rng.IntN(6)])
				h.Write(data[off : off+n])
				off += n
			}
			want := md5.Sum(data)
			if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
				t.Errorf("stream %d (%d bytes): %x, want %x", i, size, got, want)
			}
			if again := h.Sum([]byte("x")); !bytes.Equal(again[1:], want[:]) {
				t.Errorf("stream %d: a second Sum gave %x", i, again[1:])
			}
		}()
	}
	wg.Wait()
}

// TestEnds covers every length of a last partial block, where the
// padding takes one block or two.
func TestEnds(t *testing.T) {
	needLanes(t)
	s := NewServer()
	defer s.Close()
	data := bytes.Repeat([]byte("stowage!"), 40)
	h := s.NewHash()
	for n := range len(data) {
		h.Reset()
		h.Write(data[:n])
		want := md5.Sum(data[:n])
		if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
			t.Fatalf("%d bytes: %x, want %x", n, got, want)
		}
	}
}

// BenchmarkKernels runs each block function on 1, 4 and 8 lanes of
// 32 KiB: the bytes per second count only the lanes in use, so the rows
// show how much a lane costs when the others are idle (a step's latency,
// not the lane count, sets the time of a call).
func BenchmarkKernels(b *testing.B) {
	needLanes(b)
	buf := make([]byte, maxStep)
	for _, k := range kernels() {
		for _, used := range []int{1, 4, 8} {
			b.Run(fmt.Sprintf("%s/lanes=%d", k.name, used), func(b *testing.B) {
				var st [4][lanes]uint32
				var ptrs [lanes]*byte
				for l := range ptrs {
					ptrs[l] = &buf[0]
				}
				b.SetBytes(int64(used) * maxStep)
				for range b.N {
					k.fn(&st, &ptrs, maxStep/BlockSize)
				}
			})
		}
	}
}
