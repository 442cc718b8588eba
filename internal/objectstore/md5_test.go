package objectstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentPutDigests puts bodies of many sizes at once, so that
// their MD5s share the SIMD lanes (and a few small ones take crypto/md5),
// with one body failing half-way: every ETag must be the body's MD5, every
// hasher must be given back, and after Close the store still puts, with
// crypto/md5.
func TestConcurrentPutDigests(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	sizes := []int{0, 1, 63, 64, 65, 4095, lanesMin - 1, lanesMin, lanesMin + 1, 3*copyBuf + 777, bigMin + 1}
	var wg sync.WaitGroup
	errc := make(chan error, 2*len(sizes)+1)
	put := func(size int, limit bool) {
		defer wg.Done()
		body := make([]byte, size)
		rand.Read(body)
		o := PutOptions{}
		if limit {
			o.Limit = int64(size)
		}
		b, err := s.Put(ctx, bytes.NewReader(body), o)
		if err != nil {
			errc <- fmt.Errorf("size %d: %w", size, err)
			return
		}
		if sum := md5.Sum(body); !bytes.Equal(b.MD5, sum[:]) || b.Size != int64(size) {
			errc <- fmt.Errorf("size %d (limit %v): got %d bytes md5 %x, want %x", size, limit, b.Size, b.MD5, sum)
		}
	}
	bad := errors.New("connection reset")
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := s.Put(ctx, &failingReader{n: 3 << 20, err: bad}, PutOptions{Limit: 8 << 20}); !errors.Is(err, bad) {
			errc <- fmt.Errorf("failing body: got %v, want the reader's error", err)
		}
	}()
	for _, size := range sizes {
		wg.Add(2)
		go put(size, true)
		go put(size, false)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	s.md5.mu.Lock()
	active, started := s.md5.active, s.md5.srv != nil
	s.md5.mu.Unlock()
	if active != 0 || !started {
		t.Fatalf("after the puts: %d hashers out, lanes started %v; want 0 and true", active, started)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.md5.srv != nil {
		t.Fatal("Close left the lanes running")
	}
	errc = make(chan error, 1)
	wg.Add(1)
	put(2*copyBuf, true)
	close(errc)
	for err := range errc {
		t.Errorf("after Close: %v", err)
	}
}
