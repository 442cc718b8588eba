//go:build ceph

package cluster

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/internal/testenv"
)

// BenchmarkSmallPuts measures 4 KiB S3 PUTs from 16 concurrent clients:
// straight to one node (the peer), then through HAProxy in front of one,
// two and three nodes, all on one PostgreSQL and one Ceph. Every sub-
// benchmark reports puts/s; compare them within one run.
//
//	go test -tags 'ceph pacific' -run '^$' -bench SmallPuts -benchtime 2000x ./test/cluster/
func BenchmarkSmallPuts(b *testing.B) {
	c := newCluster(b, 3)
	for i := range c.nodes {
		c.start(i)
	}
	c.haproxy(1)
	fx := c.fixture()
	body := bytes.Repeat([]byte("x"), 4096)
	var seq atomic.Int64
	run := func(b *testing.B, addr string) {
		cl := c.s3(addr, fx, 1)
		b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0))) // 16 clients whatever the cores
		b.ResetTimer()
		before := c.sampleCPU(testenv.CephConf(b))
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				key := fmt.Sprintf("bench-%d", seq.Add(1))
				if _, err := cl.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: &fx.bucket, Key: &key, Body: bytes.NewReader(body)}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "puts/s")
		// Where the CPU went: on 2 cores, what a PUT costs all of them
		// together bounds the rate.
		for name, d := range c.sampleCPU(testenv.CephConf(b)).since(before) {
			b.ReportMetric(float64(d.Microseconds())/float64(b.N), name+"-cpu-us/put")
		}
	}
	b.Run("direct-1-node", func(b *testing.B) { run(b, c.nodes[0].s3) })
	for n := 1; n <= len(c.nodes); n++ {
		c.haCmd.Process.Kill()
		c.haCmd.Wait()
		c.haproxy(n)
		ha := c.haS3
		b.Run(fmt.Sprintf("haproxy-%d-nodes", n), func(b *testing.B) { run(b, ha) })
	}
}
