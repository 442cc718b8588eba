package checksum

import (
	"bytes"
	"crypto/rand"
	"testing"
)

// TestCombine: the combined digest of two pieces is the digest of the
// whole, for every CRC and for empty, short and long second pieces; the
// SHAs do not combine.
func TestCombine(t *testing.T) {
	data := make([]byte, 3<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	sum := func(a Algorithm, b []byte) []byte {
		h := a.New()
		h.Write(b)
		return h.Sum(nil)
	}
	for _, a := range []Algorithm{CRC32, CRC32C, CRC64NVME} {
		for _, cut := range []int{0, 1, 1000, 1 << 20, len(data) - 7, len(data)} {
			got, ok := a.Combine(sum(a, data[:cut]), sum(a, data[cut:]), int64(len(data)-cut))
			if want := sum(a, data); !ok || !bytes.Equal(got, want) {
				t.Errorf("%s cut at %d: combined %x (%v), want %x", a, cut, got, ok, want)
			}
		}
	}
	if _, ok := SHA256.Combine(sum(SHA256, data[:1]), sum(SHA256, data[1:]), int64(len(data)-1)); ok || SHA256.Combinable() {
		t.Error("SHA256 combined")
	}
}
