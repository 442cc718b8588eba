package objectstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// TestOpenManifest reads every range of blobs of uneven sizes (an empty
// one among them) as one, with Read and with WriteTo, and refuses a part
// shorter than its manifest says instead of returning a shorter object.
func TestOpenManifest(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	var ids []string
	var sizes []int64
	var whole []byte
	for _, part := range []string{"abc", "", "defgh", "i"} {
		b, err := s.Put(ctx, bytes.NewReader([]byte(part)), PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids, sizes, whole = append(ids, b.ID), append(sizes, b.Size), append(whole, part...)
	}
	for off := 0; off <= len(whole); off++ {
		for n := 0; off+n <= len(whole); n++ {
			for _, viaWriteTo := range []bool{false, true} {
				rc, err := OpenManifest(ctx, s, ids, sizes, int64(off), int64(n))
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
				if err != nil || got.String() != string(whole[off:off+n]) {
					t.Fatalf("range %d+%d (WriteTo %v): %q, %v", off, n, viaWriteTo, got.String(), err)
				}
			}
		}
	}
	rc, err := OpenManifest(ctx, s, ids, sizes, 2, -1)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rc); err != nil || string(b) != string(whole[2:]) {
		t.Fatalf("to the end: %q %v", b, err)
	}
	if _, err := OpenManifest(ctx, s, ids, sizes, 5, 10); err == nil {
		t.Fatal("a range past the end was accepted")
	}
	lying := []int64{3, 0, 9, 1}
	rc, err = OpenManifest(ctx, s, ids, lying, 0, 13)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a short part read as %v", err)
	}
}
