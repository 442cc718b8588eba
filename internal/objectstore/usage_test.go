package objectstore

import (
	"bytes"
	"context"
	"testing"
)

func TestUsage(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	u, err := s.Usage(ctx)
	if err != nil || u != (Usage{}) {
		t.Fatalf("empty store: %+v, %v", u, err)
	}
	var ids []string
	for _, n := range []int{0, 10, 3000} {
		b, err := s.Put(ctx, bytes.NewReader(make([]byte, n)), PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.ID)
	}
	if u, err = s.Usage(ctx); err != nil || u != (Usage{Blobs: 3, Bytes: 3010}) {
		t.Fatalf("three blobs: %+v, %v", u, err)
	}
	if err := s.Delete(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	if u, err = s.Usage(ctx); err != nil || u != (Usage{Blobs: 2, Bytes: 10}) {
		t.Fatalf("after delete: %+v, %v", u, err)
	}
}
