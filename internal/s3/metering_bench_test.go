package s3_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stowage/stowage/internal/core/metering"
	"github.com/stowage/stowage/internal/s3"
)

// BenchmarkGetMetering measures small GETs (1 KiB, 8 clients at once,
// aws-sdk-go-v2 over HTTP) with request metering off and on: two handlers
// over the same store and object, served side by side, measured in
// alternating rounds so that whatever else the machine does hits both.
// It reports the ops/s of each and on/off.
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
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	off, metered := newAWS(e.srv.URL, e.a, hc, aws.RequestChecksumCalculationWhenRequired).c, newAWS(on.URL, e.a, hc, aws.RequestChecksumCalculationWhenRequired).c
	ctx := context.Background()
	if _, err := off.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	if _, err := off.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String("small"),
		Body: bytes.NewReader(make([]byte, 1024))}); err != nil {
		b.Fatal(err)
	}
	const conc, round = 8, 500 * time.Millisecond
	run := func(c *awss3.Client) float64 {
		var n atomic.Int64
		var wg sync.WaitGroup
		stop := time.Now().Add(round)
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String("small")})
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, out.Body)
					out.Body.Close()
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		return float64(n.Load()) / round.Seconds()
	}
	run(off) // warm both: connections, statement caches
	run(metered)
	b.ResetTimer()
	var sumOff, sumOn float64
	rounds := 0
	for i := 0; i < b.N; i++ {
		for r := 0; r < 4; r++ {
			if r%2 == 0 {
				sumOff += run(off)
				sumOn += run(metered)
			} else {
				sumOn += run(metered)
				sumOff += run(off)
			}
			rounds++
		}
	}
	b.StopTimer()
	b.ReportMetric(sumOff/float64(rounds), "off-GET/s")
	b.ReportMetric(sumOn/float64(rounds), "on-GET/s")
	b.ReportMetric(sumOn/sumOff, "on/off")
}
