package metering_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/metering"
)

// fleet creates volumes and buckets in the default project.
func (e *env) fleet(volumes, buckets int) {
	e.t.Helper()
	for i := range volumes {
		e.createVolume(fmt.Sprintf("v%05d", i), 10*gib, t0)
	}
	for i := range buckets {
		if err := e.st.CreateBucket(e.ctx, bucket.Bucket{ID: fmt.Sprintf("b%05d", i), Name: fmt.Sprintf("bucket-%05d", i),
			ProjectID: e.project.ID, Region: "local-1", ACL: "private", Created: t0}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// BenchmarkSampler measures, at 10,000 volumes and 1,000 buckets, one
// sample (every level of every resource, in one transaction), one flush
// of the counters of 1,000 busy buckets, and how the store grows over a
// simulated hour of 5-minute samples and 10-second flushes.
func BenchmarkSampler(b *testing.B) {
	e := newEnv(b, "")
	start := time.Now()
	e.fleet(10000, 1000)
	b.Logf("made 10,000 volumes and 1,000 buckets in %s", time.Since(start).Round(time.Millisecond))
	e.sample(t0)
	t := time.Now()
	st := e.sample(t0.Add(time.Minute)) // every resource first seen: inserts
	first := time.Since(t)
	b.ResetTimer()
	var steady time.Duration
	var flush time.Duration
	now := t0.Add(time.Minute)
	for i := 0; i < b.N; i++ {
		// An hour: 12 samples, 360 flushes of 1,000 buckets' counters.
		for s := 0; s < 12; s++ {
			for f := 0; f < 30; f++ {
				now = now.Add(10 * time.Second)
				for k := range 1000 {
					e.svc.Counters().S3Request(fmt.Sprintf("bucket-%05d", k), "GetObject", 0, 4096)
				}
				t := time.Now()
				if err := e.svc.Flush(e.ctx, now); err != nil {
					b.Fatal(err)
				}
				flush += time.Since(t)
			}
			t := time.Now()
			e.sample(now)
			steady += time.Since(t)
		}
	}
	b.StopTimer()
	rows, err := e.st.UsageRowCount(e.ctx)
	if err != nil {
		b.Fatal(err)
	}
	size, err := e.st.UsageBytes(e.ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(first.Milliseconds()), "ms/first-sample")
	b.ReportMetric(float64(steady.Milliseconds())/float64(12*b.N), "ms/sample")
	b.ReportMetric(float64(flush.Microseconds())/float64(360*b.N)/1000, "ms/flush-1k-buckets")
	b.ReportMetric(float64(rows), "usage-rows")
	b.ReportMetric(float64(size)/float64(rows), "bytes/row")
	b.Logf("%d resources; first sample %s, steady sample %s, flush of 1,000 buckets %s; after %d simulated hour(s): %d usage rows, %d KiB (%.0f B/row)",
		st.Resources, first.Round(time.Millisecond), (steady / time.Duration(12*b.N)).Round(time.Millisecond),
		(flush / time.Duration(360*b.N)).Round(time.Microsecond), b.N, rows, size>>10, float64(size)/float64(rows))
}

// TestYearStoreEstimate measures what a usage row costs on disk (SQLite,
// rows and indexes) and prints what a year of a 10,000-volume,
// 1,000-bucket deployment takes: a level row per resource and component
// that changes, an hourly row per counter of a busy resource, everything
// folded into days after the default retention.
func TestYearStoreEstimate(t *testing.T) {
	e := newEnv(t, "")
	e.fleet(200, 100)
	e.sample(t0)
	now := t0
	for h := 0; h < 24; h++ { // a day of busy buckets and hourly samples
		now = now.Add(time.Hour)
		for k := range 100 {
			e.svc.Counters().S3Request(fmt.Sprintf("bucket-%05d", k), "GetObject", 0, 4096)
			e.svc.Counters().S3Request(fmt.Sprintf("bucket-%05d", k), "PutObject", 4096, 0)
		}
		if err := e.svc.Flush(e.ctx, now); err != nil {
			t.Fatal(err)
		}
		e.sample(now)
	}
	rows, err := e.st.UsageRowCount(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	size, err := e.st.UsageBytes(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rows == 0 || size == 0 {
		t.Fatalf("%d rows, %d bytes", rows, size)
	}
	perRow := float64(size) / float64(rows)
	const (
		volumes, buckets = 10000, 1000
		retentionDays    = 35
	)
	// Worst case: every level of every resource changes every hour
	// (volume allocated bytes, bucket bytes and count) and every bucket
	// and volume moves data every hour (6 S3 counters, 2 NBD counters).
	levelSeries := volumes*2 + buckets*2
	counterSeries := buckets*6 + volumes*2
	series := float64(levelSeries + counterSeries)
	worst := series * (24*retentionDays + (365 - retentionDays))
	// Typical: provisioned sizes seldom change (one row each a year),
	// allocated bytes and bucket contents change daily, a tenth of the
	// resources are busy in a given hour.
	typical := float64(volumes) + float64(volumes+2*buckets)*365 + 0.1*float64(counterSeries)*(24*retentionDays+(365-retentionDays))
	t.Logf("usage row on disk: %.0f bytes (%d rows, %d bytes measured)", perRow, rows, size)
	t.Logf("a year of %d volumes and %d buckets, hourly for %d days then daily: worst case %.1fM rows ≈ %.2f GiB; typical %.1fM rows ≈ %.2f GiB",
		volumes, buckets, retentionDays, worst/1e6, worst*perRow/(1<<30), typical/1e6, typical*perRow/(1<<30))
}

// BenchmarkCountS3Request is the hot-path cost of counting one request:
// every core counting requests on 100 buckets at once.
func BenchmarkCountS3Request(b *testing.B) {
	c := metering.NewCounters(0)
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("bucket-%03d", i)
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.S3Request(names[i%len(names)], "GetObject", 0, 1024)
			i++
		}
	})
}
