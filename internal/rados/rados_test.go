//go:build ceph

package rados

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/objectstore"
)

// testStore opens the objects pool of the throwaway cluster
// (scripts/test-ceph.sh) as the restricted client.stowage user, in a
// namespace of the test's own so that listing it (which only tests do)
// sees only what the test wrote.
func testStore(t *testing.T) *Store {
	t.Helper()
	conf := os.Getenv("TEST_CEPH_CONF")
	if conf == "" {
		t.Fatal("TEST_CEPH_CONF is not set: run the Ceph suite with `make test-ceph`, which starts a cluster (scripts/test-ceph.sh)")
	}
	ns := make([]byte, 8)
	_, _ = rand.Read(ns)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, Options{Conf: conf, User: "client.stowage", Pool: "stowage-objects", Namespace: hex.EncodeToString(ns)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// objects lists the test's namespace.
func objects(t *testing.T, s *Store) []string {
	t.Helper()
	it, err := s.io.Iter()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []string
	for it.Next() {
		out = append(out, it.Value())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStripes: bodies of every shape around the stripe size are striped
// into 4 MiB objects, read back whole and by any range (only the stripes
// a range covers are read), copied, and deleted to the last object.
func TestStripes(t *testing.T) {
	ctx := context.Background()
	s := testStore(t)
	for _, n := range []int{0, 1, StripeSize - 1, StripeSize, StripeSize + 1, 2*StripeSize + 12345} {
		data := random(t, n)
		b, err := s.Put(ctx, bytes.NewReader(data), objectstore.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := md5.Sum(data)
		if b.ID == "" || b.Size != int64(n) || !bytes.Equal(b.MD5, want[:]) {
			t.Fatalf("%d bytes: blob %+v", n, b)
		}
		stripes := max((n+StripeSize-1)/StripeSize, 1)
		if got := len(objects(t, s)); got != stripes {
			t.Fatalf("%d bytes in %d RADOS objects, want %d", n, got, stripes)
		}
		for _, r := range [][2]int{{0, n}, {0, 0}, {n / 2, n - n/2}, {max(n-3, 0), min(3, n)}, {StripeSize - 2, 5}, {1, StripeSize}} {
			if r[0]+r[1] > n {
				continue
			}
			rc, err := s.Open(ctx, b.ID, int64(r[0]), int64(r[1]))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(struct{ io.Reader }{rc}) // Read, not WriteTo
			rc.Close()
			if err != nil || !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
				t.Fatalf("%d bytes, range %v: %d bytes back, %v", n, r, len(got), err)
			}
		}
		if n > 0 {
			rc, err := s.Open(ctx, b.ID, 1, -1)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			_, err = rc.(io.WriterTo).WriteTo(&buf)
			rc.Close()
			if err != nil || !bytes.Equal(buf.Bytes(), data[1:]) {
				t.Fatalf("%d bytes, WriteTo from 1: %d bytes, %v", n, buf.Len(), err)
			}
		}
		c, err := s.Concat(ctx, []string{b.ID, b.ID})
		if err != nil || c.Size != 2*int64(n) {
			t.Fatalf("concat: %+v %v", c, err)
		}
		rc, err := s.Open(ctx, c.ID, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, append(append([]byte(nil), data...), data...)) {
			t.Fatalf("concat reads back %d bytes, %v", len(got), err)
		}
		for _, id := range []string{b.ID, c.ID} {
			if err := s.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, id); err != nil {
				t.Fatalf("a second delete: %v", err)
			}
		}
		if left := objects(t, s); len(left) != 0 {
			t.Fatalf("after delete: %v", left)
		}
		if _, err := s.Open(ctx, b.ID, 0, -1); !errs.Is(err, errs.NotExist) {
			t.Fatalf("open of a deleted blob: %v", err)
		}
	}
}

// TestPutInline: a body within InlineMax comes back in the Blob, and
// nothing is written to the pool.
func TestPutInline(t *testing.T) {
	ctx := context.Background()
	s := testStore(t)
	b, err := s.Put(ctx, bytes.NewReader([]byte("small")), objectstore.PutOptions{InlineMax: 64 << 10})
	if err != nil || b.ID != "" || string(b.Inline) != "small" {
		t.Fatalf("%+v %v", b, err)
	}
	b, err = s.Put(ctx, bytes.NewReader(random(t, 64<<10+1)), objectstore.PutOptions{InlineMax: 64 << 10})
	if err != nil || b.ID == "" || b.Inline != nil {
		t.Fatalf("one byte over: %+v %v", b, err)
	}
	if got := len(objects(t, s)); got != 1 {
		t.Fatalf("%d objects, want the one blob", got)
	}
	// A body declared within InlineMax takes no stripe buffer: it is
	// inline, or over its limit.
	small := random(t, 4096)
	b, err = s.Put(ctx, bytes.NewReader(small), objectstore.PutOptions{InlineMax: 64 << 10, Limit: 4096})
	if want := md5.Sum(small); err != nil || b.ID != "" || !bytes.Equal(b.Inline, small) || !bytes.Equal(b.MD5, want[:]) {
		t.Fatalf("declared small: %+v %v", b, err)
	}
	if _, err := s.Put(ctx, bytes.NewReader(small), objectstore.PutOptions{InlineMax: 64 << 10, Limit: 4095}); !errs.Is(err, errs.TooLarge) {
		t.Fatalf("one byte over a small limit: %v", err)
	}
}

// failAfter yields n bytes, then fails as a client that went away does.
type failAfter struct{ n int }

var errGone = errors.New("client went away")

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errGone
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

// TestPutFails: a body that fails mid-stream, or runs over its limit,
// leaves no RADOS object behind; Remove clears what a crash mid-PUT would
// have left (stripes, with or without a head that has no size yet), and
// such a blob does not read as one.
func TestPutFails(t *testing.T) {
	ctx := context.Background()
	s := testStore(t)
	if _, err := s.Put(ctx, &failAfter{n: 3*StripeSize + 7}, objectstore.PutOptions{}); !errors.Is(err, errGone) {
		t.Fatalf("failing body: %v", err)
	}
	if _, err := s.Put(ctx, bytes.NewReader(random(t, 2*StripeSize)), objectstore.PutOptions{Limit: StripeSize + 1}); !errs.Is(err, errs.TooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	if left := objects(t, s); len(left) != 0 {
		t.Fatalf("a failed PUT left %v", left)
	}
	// A crash after some stripes: stripes 1..3 and 5+InFlight-1 written
	// (they are written out of order, at most InFlight at once), with no
	// head, or with its head's bytes but not yet its size.
	for _, head := range []bool{false, true} {
		id, err := newID()
		if err != nil {
			t.Fatal(err)
		}
		written := []int64{1, 2, 3, 3 + int64(s.inFlight)}
		if head {
			written = append(written, 0)
		}
		for _, n := range written {
			if err := s.io.WriteFull(stripeName(id, n), []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if rc, err := s.Open(ctx, id, 0, -1); err == nil {
			rc.Close()
			t.Fatalf("an unfinished blob (head %v) opens", head)
		}
		removed, err := s.Remove(ctx, id)
		if err != nil || removed != len(written) {
			t.Fatalf("remove: %d of %d, %v", removed, len(written), err)
		}
		if left := objects(t, s); len(left) != 0 {
			t.Fatalf("remove left %v", left)
		}
	}
}

// The store reads a manifest's parts as one stream.
var _ objectstore.SpanOpener = (*Store)(nil)

// TestManifestSpans: a manifest of parts that do not end on stripe
// boundaries reads back, whole and by ranges within and across parts,
// through OpenManifest (which hands the parts to OpenSpans); a part
// shorter than its manifest says is an error, not a shorter object, and a
// manifest whose first blob is gone is errs.NotExist when opened.
func TestManifestSpans(t *testing.T) {
	ctx := context.Background()
	s := testStore(t)
	var ids []string
	var sizes []int64
	var whole []byte
	for _, n := range []int{StripeSize + 5, 7, 0, 2 * StripeSize, 3} {
		data := random(t, n)
		b, err := s.Put(ctx, bytes.NewReader(data), objectstore.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids, sizes, whole = append(ids, b.ID), append(sizes, int64(n)), append(whole, data...)
	}
	total := len(whole)
	for _, r := range [][2]int{{0, total}, {0, 0}, {1, total - 1}, {StripeSize, 13}, {StripeSize + 5, 7}, {StripeSize + 4, StripeSize},
		{StripeSize + 12, 2 * StripeSize}, {total - 4, 4}, {total, 0}} {
		for _, writeTo := range []bool{false, true} {
			rc, err := objectstore.OpenManifest(ctx, s, ids, sizes, int64(r[0]), int64(r[1]))
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			if writeTo {
				var buf bytes.Buffer
				_, err = io.Copy(&buf, rc)
				got = buf.Bytes()
			} else {
				got, err = io.ReadAll(struct{ io.Reader }{rc})
			}
			rc.Close()
			if err != nil || !bytes.Equal(got, whole[r[0]:r[0]+r[1]]) {
				t.Fatalf("range %v (WriteTo %v): %d bytes back, %v", r, writeTo, len(got), err)
			}
		}
	}
	long := append([]int64(nil), sizes...)
	long[1]++
	rc, err := objectstore.OpenManifest(ctx, s, ids, long, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, rc)
	rc.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a part shorter than its manifest: %v", err)
	}
	if err := s.Delete(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if rc, err := objectstore.OpenManifest(ctx, s, ids, sizes, 0, -1); !errs.Is(err, errs.NotExist) {
		if err == nil {
			rc.Close()
		}
		t.Fatalf("a manifest whose first part is gone: %v", err)
	}
}
