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

// reserve takes n tokens at once and returns how long the caller must
// wait before it may go on: zero unless that left the bucket in debt.
func (b *bucket) reserve(n float64) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens -= n
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// ready reports whether n tokens could be taken now without debt.
func (b *bucket) ready(n float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return min(b.burst, b.tokens+time.Since(b.last).Seconds()*b.rate) >= n
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

// wait takes a request of n bytes from the limits and waits until it
// may go on.
func (l *limiter) wait(ctx context.Context, n int64) error {
	d := l.reserve(n)
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reserve takes a request of n bytes from the limits at once and returns
// how long it must wait before it goes on (zero when the limits allow it
// now), for a caller that must not wait itself.
func (l *limiter) reserve(n int64) time.Duration {
	if l == nil {
		return 0
	}
	var d time.Duration
	if l.iops != nil {
		d = l.iops.reserve(1)
	}
	if l.bytes != nil && n > 0 {
		d = max(d, l.bytes.reserve(float64(n)))
	}
	return d
}

// ready reports whether a request of n bytes could go on now without
// waiting; it takes nothing.
func (l *limiter) ready(n int64) bool {
	return l == nil || ((l.iops == nil || l.iops.ready(1)) && (l.bytes == nil || n == 0 || l.bytes.ready(float64(n))))
}
