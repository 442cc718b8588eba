package objectstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestLargePutBypassesPageCache checks that the whole buffers of a large
// body are written around the page cache (O_DIRECT), while the bytes, the
// digest and a read back through the sendfile path stay right, including
// the short last buffer that goes through the cache.
func TestLargePutBypassesPageCache(t *testing.T) {
	s, dir := newStore(t)
	probe := filepath.Join(dir, "probe")
	fd, err := unix.Open(probe, unix.O_CREAT|unix.O_WRONLY|unix.O_DIRECT, 0o600)
	if errors.Is(err, unix.EINVAL) {
		t.Skipf("the file system of %s does not support O_DIRECT", dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	os.Remove(probe)

	for _, tc := range []struct {
		size, whole int // whole: bytes in whole buffers
		limit       int64
	}{
		{3*copyBuf + 12345, 3 * copyBuf, 0},
		// Declared large: the buffers are bigBuf long.
		{2*bigBuf + 12345, 2 * bigBuf, bigMin + 12345},
	} {
		putBypassesPageCache(t, s, tc.size, tc.whole, tc.limit)
	}
}

func putBypassesPageCache(t *testing.T, s *Store, size, whole int, limit int64) {
	ctx := context.Background()
	body := make([]byte, size)
	rand.Read(body)
	b, err := s.Put(ctx, bytes.NewReader(body), PutOptions{Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	if sum := md5.Sum(body); !bytes.Equal(b.MD5, sum[:]) || b.Size != int64(len(body)) {
		t.Fatalf("size %d md5 %x, want %d %x", b.Size, b.MD5, len(body), sum)
	}
	f, err := os.Open(s.path(b.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, len(body), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	vec := make([]byte, (len(body)+os.Getpagesize()-1)/os.Getpagesize())
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0])))
	unix.Munmap(m)
	if errno != 0 {
		t.Fatal(errno)
	}
	cached := 0
	for _, v := range vec[:whole/os.Getpagesize()] {
		cached += int(v & 1)
	}
	if cached != 0 {
		t.Fatalf("%d-byte body: %d pages of the whole buffers are in the page cache, want 0", size, cached)
	}

	// Through WriteTo (the sendfile path, a step at a time) and through Read.
	for _, viaWriteTo := range []bool{true, false} {
		rc, err := s.Open(ctx, b.ID, 100, int64(len(body))-200)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if viaWriteTo {
			_, err = rc.(io.WriterTo).WriteTo(&got)
		} else {
			_, err = io.Copy(&got, struct{ io.Reader }{rc})
		}
		rc.Close()
		if err != nil || !bytes.Equal(got.Bytes(), body[100:len(body)-100]) {
			t.Fatalf("read back (WriteTo %v): %v, %d bytes, equal %v", viaWriteTo, err, got.Len(), bytes.Equal(got.Bytes(), body[100:len(body)-100]))
		}
	}
}
