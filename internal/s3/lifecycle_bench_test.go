package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/s3"
)

// BenchmarkLifecycleExpiry fills a bucket with small inline objects
// ($STOWAGE_LC_OBJECTS, default 20,000) under a one-day expiration rule,
// then times one lifecycle pass (as of three days later) that expires them
// all, and prints the peak RSS and the p99 latency of 4 KiB S3 PUT+GET
// pairs before (idle) and during the pass, with their ratio.
//
//	STOWAGE_LC_OBJECTS=1000000 go test -run X -bench LifecycleExpiry -benchtime 1x ./internal/s3/
func BenchmarkLifecycleExpiry(b *testing.B) {
	n := 20000
	if v := os.Getenv("STOWAGE_LC_OBJECTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	for range b.N {
		e := newEnv(b)
		ctx := context.Background()
		c := awsFor(e, e.a)
		if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("lcbench")}); err != nil {
			b.Fatal(err)
		}
		bk, err := e.store.BucketConfig(ctx, "lcbench")
		if err != nil {
			b.Fatal(err)
		}
		bk.Lifecycle = []bucket.LifecycleRule{{ID: "all", Enabled: true, Prefix: "obj/", ExpirationDays: 1}}
		if err := e.store.UpdateBucket(ctx, bk); err != nil {
			b.Fatal(err)
		}
		now := time.Now().UTC()
		// Fill through the store's own PutObject from many goroutines, so
		// that the puts share commits as concurrent S3 PUTs do.
		next := make(chan int)
		var fill sync.WaitGroup
		fillStart := time.Now()
		for range 256 {
			fill.Go(func() {
				for i := range next {
					o := bucket.Object{BucketID: bk.ID, Key: fmt.Sprintf("obj/%08d", i), Inline: []byte("x"), Size: 1,
						ETag: "9dd4e461268c8034f5c8564e155c67a6", Modified: now}
					if _, err := e.store.PutObject(ctx, o); err != nil {
						b.Error(err)
					}
				}
			})
		}
		for i := range n {
			next <- i
		}
		close(next)
		fill.Wait()
		if b.Failed() {
			b.FailNow()
		}
		fmt.Printf("lifecycle expiry: filled %d objects in %v, peak RSS %s\n", n, time.Since(fillStart).Round(time.Millisecond), peakRSS())
		resetPeakRSS()
		body := bytes.Repeat([]byte("p"), 4096)
		probe := func(stop <-chan struct{}) []time.Duration {
			var ds []time.Duration
			for i := 0; ; i++ {
				select {
				case <-stop:
					return ds
				default:
				}
				t0 := time.Now()
				k := aws.String(fmt.Sprintf("probe/%d", i%100))
				if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("lcbench"), Key: k, Body: bytes.NewReader(body)}); err != nil {
					b.Error(err)
					return ds
				}
				out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("lcbench"), Key: k})
				if err != nil {
					b.Error(err)
					return ds
				}
				// Read and closed, so the connection is reused.
				_, err = io.Copy(io.Discard, out.Body)
				out.Body.Close()
				if err != nil {
					b.Error(err)
					return ds
				}
				ds = append(ds, time.Since(t0))
			}
		}
		idleFor := func() []time.Duration {
			stop := make(chan struct{})
			time.AfterFunc(10*time.Second, func() { close(stop) })
			return probe(stop)
		}
		idle := idleFor()

		o := e.opts
		o.Now = func() time.Time { return now.Add(72 * time.Hour) }
		later, err := s3.New(o)
		if err != nil {
			b.Fatal(err)
		}
		stop := make(chan struct{})
		var busy []time.Duration
		var wg sync.WaitGroup
		wg.Go(func() { busy = probe(stop) })
		b.ResetTimer()
		t0 := time.Now()
		st, err := later.RunLifecycle(ctx, e.store)
		took := time.Since(t0)
		b.StopTimer()
		close(stop)
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		if st.Expired != n {
			b.Fatalf("expired %d of %d", st.Expired, n)
		}
		rss := peakRSS()
		// Idle again: the box's own load drifts over a long pass.
		idle2 := idleFor()
		fmt.Printf("lifecycle expiry: PUT+GET 4 KiB p99 idle after the pass %v (%d)\n", p99(idle2), len(idle2))
		pi, pb := p99(idle), p99(busy)
		fmt.Printf("lifecycle expiry: %d objects in %v (%.0f/s), peak RSS during the idle probe and the pass %s; PUT+GET 4 KiB p99 idle %v (%d), during pass %v (%d), ratio %.2f\n",
			n, took.Round(time.Millisecond), float64(n)/took.Seconds(), rss, pi, len(idle), pb, len(busy), float64(pb)/float64(pi))
	}
}

// resetPeakRSS starts VmHWM over from the current RSS (Linux 4.0+), so
// that the peak printed after the pass is the pass's, not the fill's.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)*99/100]
}

// peakRSS is the process's high-water resident set (VmHWM).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
