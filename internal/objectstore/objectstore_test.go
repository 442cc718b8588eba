package objectstore

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/checksum"
	"github.com/stowage/stowage/internal/errs"
)

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// files lists every regular file under dir/sub.
func files(t *testing.T, dir, sub string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(dir, sub), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestPutOpenDelete(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	data := bytes.Repeat([]byte("0123456789"), 300_000) // 3 MB: several copy buffers
	b, err := s.Put(ctx, bytes.NewReader(data), PutOptions{Checksums: checksum.All})
	if err != nil {
		t.Fatal(err)
	}
	want := md5.Sum(data)
	if b.Size != int64(len(data)) || !bytes.Equal(b.MD5, want[:]) {
		t.Fatalf("blob %+v", b)
	}
	for _, a := range checksum.All {
		h := a.New()
		h.Write(data)
		if !bytes.Equal(b.Checksums[a], h.Sum(nil)) {
			t.Errorf("%s differs", a)
		}
	}
	for _, rg := range [][2]int64{{0, -1}, {0, 10}, {5, 100}, {int64(len(data)) - 3, -1}, {int64(len(data)), -1}} {
		r, err := s.Open(ctx, b.ID, rg[0], rg[1])
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if _, err := io.Copy(&got, r); err != nil {
			t.Fatal(err)
		}
		r.Close()
		end := int64(len(data))
		if rg[1] >= 0 {
			end = rg[0] + rg[1]
		}
		if !bytes.Equal(got.Bytes(), data[rg[0]:end]) {
			t.Errorf("range %v: %d bytes", rg, got.Len())
		}
	}
	if n := len(files(t, dir, "tmp")); n != 0 {
		t.Errorf("%d temp files left", n)
	}
	if err := s.Delete(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, b.ID); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Open(ctx, b.ID, 0, -1); !errs.Is(err, errs.NotExist) {
		t.Fatalf("open deleted: %v", err)
	}
	if _, err := s.Open(ctx, "../../etc/passwd", 0, -1); err == nil {
		t.Fatal("a path-like id was opened")
	}
}

// failingReader yields some bytes, then fails, as a client that disconnects
// or a body whose signature turns out wrong.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func TestFailedPutLeavesNothing(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	bad := errors.New("signature mismatch")
	if _, err := s.Put(ctx, &failingReader{n: 3 << 20, err: bad}, PutOptions{}); !errors.Is(err, bad) {
		t.Fatalf("got %v, want the reader's error", err)
	}
	if _, err := s.Put(ctx, bytes.NewReader(make([]byte, 1000)), PutOptions{Limit: 999}); !errs.Is(err, errs.TooLarge) {
		t.Fatalf("over limit: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(cctx, bytes.NewReader(make([]byte, 10)), PutOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if got := append(files(t, dir, "tmp"), files(t, dir, "blobs")...); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
}

// TestInFlightPutInvisible checks that while a body is still arriving
// nothing has a name under blobs/ or tmp/: the body goes to an unnamed
// file, which a crash at that point cannot leave behind.
func TestInFlightPutInvisible(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, pr, PutOptions{})
		done <- err
	}()
	pw.Write(bytes.Repeat([]byte("x"), 2<<20))
	if got := files(t, dir, "blobs"); len(got) != 0 {
		t.Fatalf("visible before commit: %v", got)
	}
	if got := files(t, dir, "tmp"); len(got) != 0 {
		t.Fatalf("named temp files: %v", got)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir, "blobs"); len(got) != 1 {
		t.Fatalf("after commit: %v", got)
	}
}

func TestConcat(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	var ids []string
	var all []byte
	for i := range 4 {
		part := bytes.Repeat([]byte{byte('a' + i)}, 1<<20+i)
		b, err := s.Put(ctx, bytes.NewReader(part), PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.ID)
		all = append(all, part...)
	}
	b, err := s.Concat(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if b.Size != int64(len(all)) {
		t.Fatalf("size %d", b.Size)
	}
	r, err := s.Open(ctx, b.ID, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, _ := io.ReadAll(r)
	if !bytes.Equal(got, all) {
		t.Fatal("concatenation differs")
	}
	if _, err := s.Concat(ctx, []string{ids[0], "0190b3c2-0000-7000-8000-000000000000"}); !errs.Is(err, errs.NotExist) {
		t.Fatalf("missing part: %v", err)
	}
}

// TestGC simulates what a kill -9 leaves (a temp file, a blob written but
// never committed) and checks GC removes exactly those.
func TestGC(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	keep, err := s.Put(ctx, bytes.NewReader([]byte("committed")), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := s.Put(ctx, bytes.NewReader([]byte("never committed")), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tmp", "put-123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	live := func(_ context.Context, ids []string) (map[string]bool, error) {
		m := map[string]bool{}
		for _, id := range ids {
			m[id] = id == keep.ID
		}
		return m, nil
	}
	// A cutoff before the files were written protects them.
	if n, err := s.GC(ctx, time.Now().Add(-time.Hour), live); err != nil || n != 0 {
		t.Fatalf("early gc removed %d, %v", n, err)
	}
	n, err := s.GC(ctx, time.Now().Add(time.Second), live)
	if err != nil || n != 2 {
		t.Fatalf("gc removed %d, %v", n, err)
	}
	if _, err := s.Open(ctx, keep.ID, 0, -1); err != nil {
		t.Fatalf("live blob gone: %v", err)
	}
	if _, err := s.Open(ctx, orphan.ID, 0, -1); !errs.Is(err, errs.NotExist) {
		t.Fatalf("orphan survived: %v", err)
	}
	if got := files(t, dir, "tmp"); len(got) != 0 {
		t.Fatalf("temp survived: %v", got)
	}
}

// TestReserve checks that a store short of free space refuses writes as
// errs.NoSpace and leaves no temp file behind.
func TestReserve(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir, Options{Reserve: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), bytes.NewReader([]byte("x")), PutOptions{}); !errs.Is(err, errs.NoSpace) {
		t.Fatalf("put past the reserve: %v, want NoSpace", err)
	}
	if f := files(t, dir, "tmp"); len(f) != 0 {
		t.Fatalf("temp files left: %v", f)
	}
}

// TestInline: bodies up to InlineMax come back in memory, hashed, limited
// and encrypted exactly as files are; anything longer is a whole file,
// including the bytes read to decide.
func TestInline(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	const max = 1000
	for _, n := range []int{0, 1, max - 1, max, max + 1, copyBuf + 7, 2*writeBehindStep + 5} {
		data := bytes.Repeat([]byte{byte(n), 'x', 0x7f}, n/3+1)[:n]
		b, err := s.Put(ctx, bytes.NewReader(data), PutOptions{Checksums: []checksum.Algorithm{checksum.CRC32C}, InlineMax: max})
		if err != nil {
			t.Fatal(err)
		}
		want := md5.Sum(data)
		crc := checksum.CRC32C.New()
		crc.Write(data)
		if b.Size != int64(n) || !bytes.Equal(b.MD5, want[:]) || !bytes.Equal(b.Checksums[checksum.CRC32C], crc.Sum(nil)) {
			t.Fatalf("%d bytes: blob %+v", n, b)
		}
		if inline := n <= max; inline != (b.ID == "") || inline != (b.Inline != nil) {
			t.Fatalf("%d bytes: id %q, %d inline bytes", n, b.ID, len(b.Inline))
		}
		got := b.Inline
		if b.ID != "" {
			r, err := s.Open(ctx, b.ID, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			got, _ = io.ReadAll(r)
			r.Close()
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%d bytes read back different", n)
		}
	}
	if n := len(files(t, dir, "blobs")); n != 3 {
		t.Fatalf("%d blob files, want 3 (the bodies over InlineMax)", n)
	}
	if _, err := s.Put(ctx, bytes.NewReader(make([]byte, 11)), PutOptions{Limit: 10, InlineMax: max}); !errs.Is(err, errs.TooLarge) {
		t.Fatalf("inline body over the limit: %v", err)
	}
	// Encrypted inline bytes are what would have been stored.
	key := bytes.Repeat([]byte{1}, 32)
	blk, _ := aes.NewCipher(key)
	iv := make([]byte, aes.BlockSize)
	data := []byte("secret bytes kept with the metadata")
	b, err := s.Put(ctx, bytes.NewReader(data), PutOptions{InlineMax: max, Encrypt: cipher.NewCTR(blk, iv)})
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, len(b.Inline))
	cipher.NewCTR(blk, iv).XORKeyStream(plain, b.Inline)
	if bytes.Contains(b.Inline, []byte("secret")) || !bytes.Equal(plain, data) {
		t.Fatal("inline bytes are not the encrypted body")
	}
}
