package server

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestBucketRate: many concurrent takers together get the bucket's rate,
// plus at most its burst.
func TestBucketRate(t *testing.T) {
	b := newBucket(2000)
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 125 {
				if err := b.take(ctx, 1); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// 1000 tokens at 2000/s with a burst of 200: 0.4 s. Faster would
	// break the limit; a loaded machine may only make it slower, so the
	// test sets no upper bound (the takers finish, or the test times out).
	if got := time.Since(start).Seconds(); got < 0.38 {
		t.Fatalf("1000 takes took %.2fs, want at least 0.4s", got)
	}
	if newLimiter(0, 0) != nil {
		t.Fatal("a type without limits got a limiter")
	}
	var l *limiter
	if err := l.wait(ctx, 1<<20); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	slow := newBucket(1)
	slow.take(ctx, 1)
	if err := slow.take(cctx, 10); err == nil {
		t.Fatal("a cancelled wait returned nil")
	}
}
