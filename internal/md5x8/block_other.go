//go:build !amd64

package md5x8

// Available reports whether this CPU runs the lanes: only amd64 has them.
func Available() bool { return false }

func block(*[4][8]uint32, *[8]*byte, int) { panic("md5x8: no SIMD lanes on this architecture") }
