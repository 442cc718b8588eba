package server

import (
	"context"
	"sync"
	"time"
)

// bucket is a token bucket that lends: a request takes its tokens at once
// and, when that leaves the bucket in debt, waits until the debt is repaid.
// Lending lets one large request through without a burst the size of the
// largest request, and keeps the long-run rate exact.
type bucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64) *bucket {
	// A tenth of a second of burst smooths client jitter without letting
	// short benchmarks overshoot the rate noticeably.
	burst := max(rate/10, 1)
	return &bucket{rate: rate, burst: burst, tokens: burst, last: time.Now()}
}

func (b *bucket) take(ctx context.Context, n float64) error {
	b.mu.Lock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens -= n
	wait := time.Duration(0)
	if b.tokens < 0 {
		wait = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	if wait == 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// limiter enforces a volume type's IOPS and MiB/s on one export, shared by
// every connection to it. A nil limiter or a zero limit does not limit.
type limiter struct {
	iops  *bucket
	bytes *bucket
}

func newLimiter(iops, mibps int) *limiter {
	if iops <= 0 && mibps <= 0 {
		return nil
	}
	l := &limiter{}
	if iops > 0 {
		l.iops = newBucket(float64(iops))
	}
	if mibps > 0 {
		l.bytes = newBucket(float64(mibps) * (1 << 20))
	}
	return l
}

func (l *limiter) wait(ctx context.Context, n int64) error {
	if l == nil {
		return nil
	}
	if l.iops != nil {
		if err := l.iops.take(ctx, 1); err != nil {
			return err
		}
	}
	if l.bytes != nil && n > 0 {
		return l.bytes.take(ctx, float64(n))
	}
	return nil
}
