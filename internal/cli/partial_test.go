package cli

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestPartialFile: a download resumes only the partial file of the same
// object version; partial files of other versions go, other files stay.
func TestPartialFile(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"f.bin.0123456789ab.part", "f.bin.notours.part", "g.bin.0123456789ab.part", "f.bin"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := partialFile(filepath.Join(dir, "f.bin"), "d41d8cd98f00b204e9800998ecf8427e")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := partialFile(filepath.Join(dir, "f.bin"), "d41d8cd98f00b204e9800998ecf8427e")
	other, _ := partialFile(filepath.Join(dir, "f.bin"), "9e107d9d372bb6826bd81d3542a419d6-2")
	if p != again || p == other || !isPartial(filepath.Base(p), "f.bin") {
		t.Errorf("partial files %s, %s, %s", p, again, other)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"f.bin", "f.bin.notours.part", "g.bin.0123456789ab.part"}
	if !slices.Equal(names, want) {
		t.Errorf("left %v, want %v", names, want)
	}
}

// TestETagSum: the ETag computed from bytes written in any chunking is
// S3's, single-part and multipart (empty parts included), and bytes that
// do not fill the parts exactly never match.
func TestETagSum(t *testing.T) {
	data := make([]byte, 10_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	single := md5.Sum(data)
	sizes := []int64{4096, 0, 4096, 1808}
	var all []byte
	off := int64(0)
	for _, n := range sizes {
		s := md5.Sum(data[off : off+n])
		all = append(all, s[:]...)
		off += n
	}
	multi := fmt.Sprintf("%x-4", md5.Sum(all))
	for _, chunk := range []int{1, 7, 4096, 5000, len(data)} {
		e := &etagSum{part: md5.New()}
		m := &etagSum{part: md5.New(), all: md5.New(), sizes: sizes, left: sizes[0]}
		for b := data; len(b) > 0; b = b[min(chunk, len(b)):] {
			e.Write(b[:min(chunk, len(b))])
			m.Write(b[:min(chunk, len(b))])
		}
		if got := e.etag(); got != hex.EncodeToString(single[:]) {
			t.Errorf("chunks of %d: single-part ETag %s", chunk, got)
		}
		if got := m.etag(); got != multi {
			t.Errorf("chunks of %d: multipart ETag %s, want %s", chunk, got, multi)
		}
	}
	short := &etagSum{part: md5.New(), all: md5.New(), sizes: sizes, left: sizes[0]}
	short.Write(data[:9000])
	long := &etagSum{part: md5.New(), all: md5.New(), sizes: sizes, left: sizes[0]}
	long.Write(append(slices.Clone(data), 1))
	if short.etag() != "" || long.etag() != "" {
		t.Error("bytes that do not fill the parts exactly produced an ETag")
	}
}
