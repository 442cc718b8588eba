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

// BenchmarkLifecycleExpiry fills buckets of small inline objects
// ($STOWAGE_LC_OBJECTS in all, default 20,000; 10,000 a bucket), then
// expires them with lifecycle passes (as of three days later), one bucket
// a pass, each pass followed by a pause as long as it took. A probe of 4
// KiB S3 PUT+GET pairs runs throughout; its p99 during the passes is set
// against its p99 during the pauses in between, so both see the same
// background load (on a shared machine a pass of many minutes outlasts
// any idle measurement taken before or after it). It prints the time and
// rate of the passes, the peak RSS from the first pass on, and the ratio.
//
//	STOWAGE_LC_OBJECTS=1000000 go test -run X -bench LifecycleExpiry -benchtime 1x -timeout 2h ./internal/s3/
func BenchmarkLifecycleExpiry(b *testing.B) {
	n := 20000
	if v := os.Getenv("STOWAGE_LC_OBJECTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	const perBucket = 10000
	for range b.N {
		e := newEnv(b)
		ctx := context.Background()
		c := awsFor(e, e.a)
		var buckets []bucket.Bucket
		for i := 0; i*perBucket < n; i++ {
			name := fmt.Sprintf("lcbench-%04d", i)
			if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
				b.Fatal(err)
			}
			bk, err := e.store.BucketConfig(ctx, name)
			if err != nil {
				b.Fatal(err)
			}
			buckets = append(buckets, bk)
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
					o := bucket.Object{BucketID: buckets[i/perBucket].ID, Key: fmt.Sprintf("obj/%08d", i), Inline: []byte("x"), Size: 1,
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
		fmt.Printf("lifecycle expiry: filled %d objects in %d buckets in %v, peak RSS %s\n", n, len(buckets), time.Since(fillStart).Round(time.Millisecond), peakRSS())
		resetPeakRSS()

		// The probe: one PUT+GET pair at a time, each noted with its
		// start, to be sorted into passes and pauses afterwards.
		type sample struct {
			at   time.Time
			took time.Duration
		}
		var samples []sample
		stop := make(chan struct{})
		var wg sync.WaitGroup
		body := bytes.Repeat([]byte("p"), 4096)
		probeBucket := aws.String(buckets[0].Name)
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				k := aws.String(fmt.Sprintf("probe/%d", i%100))
				if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: probeBucket, Key: k, Body: bytes.NewReader(body)}); err != nil {
					b.Error(err)
					return
				}
				out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: probeBucket, Key: k})
				if err != nil {
					b.Error(err)
					return
				}
				// Read and closed, so the connection is reused.
				_, err = io.Copy(io.Discard, out.Body)
				out.Body.Close()
				if err != nil {
					b.Error(err)
					return
				}
				samples = append(samples, sample{t0, time.Since(t0)})
			}
		})

		o := e.opts
		o.Now = func() time.Time { return now.Add(72 * time.Hour) }
		later, err := s3.New(o)
		if err != nil {
			b.Fatal(err)
		}
		type window struct{ from, to time.Time }
		var passes []window
		var took time.Duration
		expired := 0
		pause := func(d time.Duration) {
			select {
			case <-time.After(max(d, time.Second)):
			case <-stop:
			}
		}
		pause(time.Second) // the probe's first pairs set up its connection
		b.ResetTimer()
		for _, bk := range buckets {
			bk.Lifecycle = []bucket.LifecycleRule{{ID: "all", Enabled: true, Prefix: "obj/", ExpirationDays: 1}}
			if err := e.store.UpdateBucket(ctx, bk); err != nil {
				b.Fatal(err)
			}
			w := window{from: time.Now()}
			st, err := later.RunLifecycle(ctx, e.store)
			w.to = time.Now()
			if err != nil {
				b.Fatal(err)
			}
			expired += st.Expired
			passes = append(passes, w)
			took += w.to.Sub(w.from)
			pause(w.to.Sub(w.from))
		}
		b.StopTimer()
		rss := peakRSS()
		close(stop)
		wg.Wait()
		if expired != n {
			b.Fatalf("expired %d of %d", expired, n)
		}
		var busy, idle []time.Duration
		for _, s := range samples {
			during := false
			for _, w := range passes {
				// A pair that overlaps a pass counts as during it.
				if s.at.Before(w.to) && s.at.Add(s.took).After(w.from) {
					during = true
					break
				}
			}
			if during {
				busy = append(busy, s.took)
			} else {
				idle = append(idle, s.took)
			}
		}
		pi, pb := p99(idle), p99(busy)
		fmt.Printf("lifecycle expiry: %d objects in %v of passes (%.0f/s), peak RSS %s; PUT+GET 4 KiB p99 between passes %v (%d), during passes %v (%d), ratio %.2f\n",
			n, took.Round(time.Millisecond), float64(n)/took.Seconds(), rss, pi, len(idle), pb, len(busy), float64(pb)/float64(pi))
	}
}

// resetPeakRSS starts VmHWM over from the current RSS (Linux 4.0+), so
// that the peak printed after the passes is theirs, not the fill's.
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
