package md5x8

import "golang.org/x/sys/cpu"

//go:noescape
func blockAVX2(s *[4][8]uint32, p *[8]*byte, n int)

//go:noescape
func blockAVX512(s *[4][8]uint32, p *[8]*byte, n int)

// Available reports whether this CPU runs the lanes (it has AVX2).
func Available() bool { return cpu.X86.HasAVX2 }

// block hashes n 64-byte blocks of each lane: lane l's state is s[0..3][l]
// and its blocks start at p[l].
func block(s *[4][8]uint32, p *[8]*byte, n int) {
	if cpu.X86.HasAVX512VL {
		blockAVX512(s, p, n)
		return
	}
	blockAVX2(s, p, n)
}
