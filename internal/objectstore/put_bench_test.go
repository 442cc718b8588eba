package objectstore

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stowage/stowage/internal/procstat"
)

// segmented hands out size bytes of pattern a segment at a time, as a
// socket hands out what has arrived, so each Read costs a copy like the
// kernel's.
type segmented struct {
	pattern   []byte
	off, left int
}

const segment = 64 << 10

func (r *segmented) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), segment, r.left)], r.pattern[r.off:])
	r.off = (r.off + n) % len(r.pattern)
	r.left -= n
	return n, nil
}

// BenchmarkConcurrentLargePut puts four 64 MiB bodies at once, bench/s3's
// large PUT without the network: its figures are the rate and the CPU
// time per GiB the store spends receiving, hashing and writing them.
func BenchmarkConcurrentLargePut(b *testing.B) {
	const conc, size = 4, 64 << 20
	s, err := New(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pattern := make([]byte, 1<<20)
	rand.Read(pattern)
	ctx := context.Background()
	b.SetBytes(size)
	cpu0 := procstat.CPU(os.Getpid())
	b.ResetTimer()
	// Each worker puts one body after another, as bench/s3's do, so the
	// bodies start at different times.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				blob, err := s.Put(ctx, &segmented{pattern: pattern, left: size}, PutOptions{Limit: size})
				if err != nil {
					b.Error(err)
					return
				}
				if err := s.Delete(ctx, blob.ID); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	gib := float64(b.N) * size / (1 << 30)
	b.ReportMetric((procstat.CPU(os.Getpid())-cpu0).Seconds()/gib, "cpu-s/GiB")
}
