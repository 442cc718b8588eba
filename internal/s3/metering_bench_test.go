package s3_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stowage/stowage/internal/core/metering"
	"github.com/stowage/stowage/internal/s3"
)

// BenchmarkGetMetering measures small GETs (1 KiB, 8 clients at once,
// aws-sdk-go-v2 over HTTP) with request metering off and on: handlers
// over the same store and object, served side by side, plus a second
// handler without metering as the control. It reports the mean latency
// of off and on, the GET/s they imply at that concurrency, on/off (the
// throughput ratio) and control/off (the noise floor of this run).
func BenchmarkGetMetering(b *testing.B) {
	e := buildEnv(b, "sqlite", "", false)
	counters := metering.NewCounters(0)
	h, err := s3.New(s3.Options{Meta: e.store, Blobs: e.blobs, Credentials: s3.NewSealedCredentials(e.store, e.sealer),
		Quota: e.quota, Keys: e.sealer, Registry: prometheus.NewRegistry(), Region: region, Meter: counters})
	if err != nil {
		b.Fatal(err)
	}
	on := httptest.NewServer(h)
	defer on.Close()
	// A second handler without metering is the control: how far two
	// identical handlers differ on this machine now.
	h2, err := s3.New(s3.Options{Meta: e.store, Blobs: e.blobs, Credentials: s3.NewSealedCredentials(e.store, e.sealer),
		Quota: e.quota, Keys: e.sealer, Registry: prometheus.NewRegistry(), Region: region})
	if err != nil {
		b.Fatal(err)
	}
	control := httptest.NewServer(h2)
	defer control.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	mk := func(url string) *awss3.Client {
		return newAWS(url, e.a, hc, aws.RequestChecksumCalculationWhenRequired).c
	}
	clients := []*awss3.Client{mk(e.srv.URL), mk(control.URL), mk(on.URL)} // off, off again, on
	ctx := context.Background()
	if _, err := clients[0].CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	if _, err := clients[0].PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String("small"),
		Body: bytes.NewReader(make([]byte, 1024))}); err != nil {
		b.Fatal(err)
	}
	get := func(c *awss3.Client) {
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String("small")})
		if err != nil {
			b.Error(err)
			return
		}
		io.Copy(io.Discard, out.Body)
		out.Body.Close()
	}
	// Each client takes the three handlers in turn, timing every GET, so that all see the same machine at the same
	// moments: on a busy box, rounds of one then the other measure the
	// neighbours more than the change.
	const conc, round = 8, 2 * time.Second
	// Every order of the three, so that none is always first or always
	// right after another.
	orders := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	run := func() (sums [3]time.Duration, n int64) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		stop := time.Now().Add(round)
		for w := range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var d [3]time.Duration
				var k int64
				for i := w; time.Now().Before(stop); i++ {
					for _, c := range orders[i%len(orders)] {
						t := time.Now()
						get(clients[c])
						d[c] += time.Since(t)
					}
					k++
				}
				mu.Lock()
				for c := range d {
					sums[c] += d[c]
				}
				n += k
				mu.Unlock()
			}()
		}
		wg.Wait()
		return sums, n
	}
	run() // warm all: connections, statement caches
	b.ResetTimer()
	var d [3]time.Duration
	var n int64
	for i := 0; i < b.N; i++ {
		s, k := run()
		for c := range d {
			d[c] += s[c]
		}
		n += k
	}
	b.StopTimer()
	// Mean latency per GET of each, the GET/s it implies at this
	// concurrency, and the throughput ratios.
	b.ReportMetric(float64(d[0].Microseconds())/float64(n), "off-µs/GET")
	b.ReportMetric(float64(d[2].Microseconds())/float64(n), "on-µs/GET")
	b.ReportMetric(float64(n)*conc/d[0].Seconds(), "off-GET/s")
	b.ReportMetric(float64(n)*conc/d[2].Seconds(), "on-GET/s")
	b.ReportMetric(d[0].Seconds()/d[2].Seconds(), "on/off")
	b.ReportMetric(d[0].Seconds()/d[1].Seconds(), "control/off")
}
