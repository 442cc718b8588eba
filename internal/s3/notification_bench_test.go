package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/internal/core/bucket"
)

// BenchmarkPutNotifications measures small PUTs (1 KiB, 8 clients at
// once, aws-sdk-go-v2 over HTTP, SQLite) into a bucket without event
// notifications, a second one as the control, and one whose rule
// announces every PUT (an event job inserted in each commit). Each client
// takes the three in turn, so all see the same machine at the same
// moments. It reports the mean latency of each, notified/plain (the cost
// of announcing) and control/plain (the noise floor of this run).
func BenchmarkPutNotifications(b *testing.B) {
	e := buildEnv(b, "sqlite", "", false)
	ctx := context.Background()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	c := newAWS(e.srv.URL, e.a, hc, aws.RequestChecksumCalculationWhenRequired).c
	names := []string{"plain", "control", "notified"}
	for _, n := range names {
		if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(n)}); err != nil {
			b.Fatal(err)
		}
	}
	nb, err := e.store.BucketByName(ctx, "notified")
	if err != nil {
		b.Fatal(err)
	}
	nb.Notifications = []bucket.NotificationRule{{ID: "all", Kind: bucket.NotifyTopic, ARN: "arn:stowage:sns:local-1:" + e.a.project + ":hook",
		Events: []string{"s3:ObjectCreated:*"}}}
	if err := e.store.UpdateBucket(ctx, nb); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1024)
	put := func(bkt string, i int) {
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bkt), Key: aws.String(fmt.Sprint("k", i%512)),
			Body: bytes.NewReader(body)}); err != nil {
			b.Error(err)
		}
	}
	const conc, round = 8, 2 * time.Second
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
				for i := w; time.Now().Before(stop); i += conc {
					for _, x := range orders[i%len(orders)] {
						t := time.Now()
						put(names[x], i)
						d[x] += time.Since(t)
					}
					k++
				}
				mu.Lock()
				for x := range d {
					sums[x] += d[x]
				}
				n += k
				mu.Unlock()
			}()
		}
		wg.Wait()
		return sums, n
	}
	run() // warm: connections, statement caches, the keys' first versions
	b.ResetTimer()
	var d [3]time.Duration
	var n int64
	for i := 0; i < b.N; i++ {
		s, k := run()
		for x := range d {
			d[x] += s[x]
		}
		n += k
	}
	b.StopTimer()
	b.ReportMetric(float64(d[0].Microseconds())/float64(n), "plain-µs/PUT")
	b.ReportMetric(float64(d[2].Microseconds())/float64(n), "notified-µs/PUT")
	b.ReportMetric(d[2].Seconds()/d[0].Seconds(), "notified/plain")
	b.ReportMetric(d[1].Seconds()/d[0].Seconds(), "control/plain")
}
