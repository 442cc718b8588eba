package objectstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"testing"
	"time"
)

// TestConcurrentPutDigests puts bodies of many sizes at once, so that
// the MD5s of large ones share the SIMD lanes while small ones take
// crypto/md5, with one body failing half-way: every
// ETag must be the body's MD5, every hasher must be given back, and after
// Close the store still puts, with crypto/md5.
func TestConcurrentPutDigests(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	errc := make(chan error, 64)
	var wg sync.WaitGroup
	check := func(r io.Reader, body []byte, o PutOptions) {
		defer wg.Done()
		b, err := s.Put(ctx, r, o)
		if err != nil {
			errc <- fmt.Errorf("size %d: %w", len(body), err)
			return
		}
		if sum := md5.Sum(body); !bytes.Equal(b.MD5, sum[:]) || b.Size != int64(len(body)) {
			errc <- fmt.Errorf("size %d (limit %d): got %d bytes md5 %x, want %x", len(body), o.Limit, b.Size, b.MD5, sum)
		}
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}

	// Large bodies whose bytes wait on pipes, so that all are in flight
	// together, each in a lane.
	const large = 3
	var pipes []*io.PipeWriter
	var bodies [][]byte
	for i := range large {
		pr, pw := io.Pipe()
		body := random(bigMin + 1 + i*777)
		pipes, bodies = append(pipes, pw), append(bodies, body)
		wg.Add(1)
		go check(pr, body, PutOptions{Limit: int64(len(body))})
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		s.md5.mu.Lock()
		active := s.md5.active
		s.md5.mu.Unlock()
		if active == large {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d large bodies in lanes, want %d", active, large)
		}
		time.Sleep(time.Millisecond)
	}
	// Small and mid-sized bodies meanwhile, declared or not, and one that
	// fails.
	for _, size := range []int{0, 1, 63, 64, 65, 4095, lanesMin - 1, lanesMin, lanesMin + 1, 3*copyBuf + 777} {
		body := random(size)
		wg.Add(2)
		go check(bytes.NewReader(body), body, PutOptions{Limit: int64(size)})
		go check(bytes.NewReader(body), body, PutOptions{})
	}
	bad := errors.New("connection reset")
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := s.Put(ctx, &failingReader{n: 3 << 20, err: bad}, PutOptions{Limit: 8 << 20}); !errors.Is(err, bad) {
			errc <- fmt.Errorf("failing body: got %v, want the reader's error", err)
		}
	}()
	for i, pw := range pipes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw.Write(bodies[i])
			pw.Close()
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	s.md5.mu.Lock()
	active, running := s.md5.active, s.md5.srv != nil
	s.md5.mu.Unlock()
	if active != 0 || running {
		t.Fatalf("after the puts: %d lane hashers out, lanes running %v; want 0 and false (an idle store keeps no lanes)", active, running)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	errc = make(chan error, 1)
	wg.Add(1)
	body := random(2 * copyBuf)
	check(bytes.NewReader(body), body, PutOptions{})
	close(errc)
	for err := range errc {
		t.Errorf("after Close: %v", err)
	}
}

// BenchmarkMD5 hashes streams 64 MiB bodies at once, in 4 MiB writes,
// with crypto/md5 and through the lanes: the ratio is what md5Lanes buys
// on this CPU.
func BenchmarkMD5(b *testing.B) {
	buf := make([]byte, bigBuf)
	for _, streams := range []int{1, 4, 8} {
		for _, lanes := range []bool{false, true} {
			b.Run(fmt.Sprintf("streams=%d/lanes=%v", streams, lanes), func(b *testing.B) {
				var l md5Lanes
				defer l.close()
				b.SetBytes(int64(streams) * 64 << 20)
				for range b.N {
					var wg sync.WaitGroup
					for range streams {
						wg.Add(1)
						go func() {
							defer wg.Done()
							h, release := hash.Hash(md5.New()), func() {}
							if lanes {
								h, release = l.hasher(0)
							}
							defer release()
							for range 64 << 20 / len(buf) {
								h.Write(buf)
							}
							h.Sum(nil)
						}()
					}
					wg.Wait()
				}
			})
		}
	}
}
