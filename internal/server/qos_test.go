package server

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestLimiterRate: many concurrent takers together get the limit's rate,
// plus at most its burst.
func TestLimiterRate(t *testing.T) {
	b := newLimiter(2000, 0)
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 125 {
				if err := b.wait(ctx, 4096); err != nil {
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
	slow := newLimiter(0, 1) // 1 MiB/s, a burst of 102.4 KiB
	if !slow.ready(100<<10) || slow.ready(103<<10) {
		t.Fatal("ready does not match the burst")
	}
	if d := slow.reserve(100 << 10); d != 0 {
		t.Fatalf("a request within the burst must wait %v", d)
	}
	if slow.ready(8 << 10) {
		t.Fatal("ready with the burst spent")
	}
	if d := slow.reserve(1 << 19); d < 400*time.Millisecond || d > 500*time.Millisecond {
		t.Fatalf("half a MiB beyond the burst waits %v, want about 0.5s", d)
	}
	if err := slow.wait(cctx, 1<<20); err == nil {
		t.Fatal("a cancelled wait returned nil")
	}
}
