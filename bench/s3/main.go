// Command s3 benchmarks any S3 endpoint (Stowage, MinIO, …) with the
// measurements the S3 issue asks for: PUT and GET throughput of large
// objects, PUT and GET rate and latency (p50/p99) of small objects, the
// time to list a bucket of many keys with ListObjectsV2, and a multipart
// upload with its Complete timed on its own. Run it against two
// servers in one session and compare ratios, never absolute numbers from
// different runs.
//
//	go run ./bench/s3 -endpoint http://127.0.0.1:9000 -access-key AK -secret-key SK
//	go run ./bench/s3 -test small -concurrency 32 -size 4096 -duration 20s …
//	go run ./bench/s3 -test listscale -scale-keys 200000 -scale-prefixes 100 …
//
// The listscale test (not part of all: its fill takes minutes) times
// listing pages over a bucket of many keys; see listScale.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
)

type config struct {
	endpoint, accessKey, secretKey, region, bucket, test string
	concurrency                                          int
	size                                                 int64
	duration                                             time.Duration
	listKeys                                             int
	scaleKeys, scalePrefixes, reps                       int
	mpSize, partSize                                     int64
}

func main() {
	var c config
	flag.StringVar(&c.endpoint, "endpoint", "http://127.0.0.1:9000", "S3 endpoint URL")
	flag.StringVar(&c.accessKey, "access-key", os.Getenv("AWS_ACCESS_KEY_ID"), "access key id")
	flag.StringVar(&c.secretKey, "secret-key", os.Getenv("AWS_SECRET_ACCESS_KEY"), "secret key")
	flag.StringVar(&c.region, "region", "us-east-1", "region to sign for")
	flag.StringVar(&c.bucket, "bucket", "bench-s3", "bucket to use (created if missing)")
	flag.StringVar(&c.test, "test", "all", "large, small, list, multipart, all (those four) or listscale")
	flag.IntVar(&c.concurrency, "concurrency", 0, "workers (default: 4 for large, 32 for small)")
	flag.Int64Var(&c.size, "size", 0, "object size in bytes (default: 64 MiB for large, 4 KiB for small)")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "how long each PUT and GET phase runs")
	flag.IntVar(&c.listKeys, "list-keys", 10000, "keys in the listing test")
	flag.IntVar(&c.scaleKeys, "scale-keys", 10000, "keys in the listscale test's bucket")
	flag.IntVar(&c.scalePrefixes, "scale-prefixes", 100, "directories the listscale test's keys are spread over")
	flag.IntVar(&c.reps, "reps", 21, "times the listscale test lists each page")
	flag.Int64Var(&c.mpSize, "mp-size", 1<<30, "object size of the multipart test")
	flag.Int64Var(&c.partSize, "part-size", 16<<20, "part size of the multipart test")
	flag.Parse()
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func newClient(c config) *awss3.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	return awss3.New(awss3.Options{
		Region:       c.region,
		BaseEndpoint: aws.String(c.endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(c.accessKey, c.secretKey, ""),
		HTTPClient:   &http.Client{Transport: tr},
		// Keep the client's CPU for sending: no payload hashing or CRCs,
		// the same for every server measured.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		APIOptions:                 []func(*middleware.Stack) error{v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware},
	})
}

func run(ctx context.Context, c config) error {
	cl := newClient(c)
	if _, err := cl.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(c.bucket)}); err != nil {
		if _, herr := cl.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(c.bucket)}); herr != nil {
			return fmt.Errorf("create bucket: %w", err)
		}
	}
	tests := []string{c.test}
	if c.test == "all" {
		tests = []string{"large", "small", "list", "multipart"}
	}
	for _, t := range tests {
		var err error
		switch t {
		case "large":
			err = throughput(ctx, cl, c, "large", 64<<20, 4)
		case "small":
			err = throughput(ctx, cl, c, "small", 4<<10, 32)
		case "list":
			err = list(ctx, cl, c)
		case "multipart":
			err = multipart(ctx, cl, c)
		case "listscale":
			err = listScale(ctx, cl, c)
		default:
			err = fmt.Errorf("unknown test %q", t)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// throughput runs a PUT phase then a GET phase of duration each, with
// conc workers, and reports MiB/s, ops/s and latency percentiles.
func throughput(ctx context.Context, cl *awss3.Client, c config, name string, size int64, conc int) error {
	if c.size > 0 {
		size = c.size
	}
	if c.concurrency > 0 {
		conc = c.concurrency
	}
	body := make([]byte, size)
	if _, err := rand.Read(body); err != nil {
		return err
	}
	keyOf := func(w, i int) string { return fmt.Sprintf("%s/%d/%d", name, w, i) }
	written := make([]int, conc)
	put := func(w, i int) error {
		_, err := cl.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(keyOf(w, i)),
			Body: bytes.NewReader(body), ContentLength: aws.Int64(size)})
		if err == nil {
			written[w] = max(written[w], i+1)
		}
		return err
	}
	get := func(w, i int) error {
		n := max(written[w], 1)
		out, err := cl.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(keyOf(w, i%n))})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		got, err := io.Copy(io.Discard, out.Body)
		if err == nil && got != size {
			err = fmt.Errorf("GET returned %d bytes, want %d", got, size)
		}
		return err
	}
	for _, phase := range []struct {
		op string
		fn func(w, i int) error
	}{{"PUT", put}, {"GET", get}} {
		r, err := phaseRun(ctx, conc, c.duration, phase.fn)
		if err != nil {
			return fmt.Errorf("%s %s: %w", phase.op, name, err)
		}
		secs := r.elapsed.Seconds()
		fmt.Printf("%-3s %-5s size=%d conc=%d: %8.1f MiB/s %8.1f ops/s  p50 %6.1f ms  p99 %6.1f ms  (%d ops in %.1fs)\n",
			phase.op, name, size, conc, float64(r.ops)*float64(size)/secs/(1<<20), float64(r.ops)/secs,
			ms(r.pct(50)), ms(r.pct(99)), r.ops, secs)
	}
	// A minute of large PUTs writes tens of gigabytes: leave the disk as
	// it was, so runs can follow one another.
	var keys []types.ObjectIdentifier
	for w, n := range written {
		for i := range n {
			keys = append(keys, types.ObjectIdentifier{Key: aws.String(keyOf(w, i))})
		}
	}
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 1000)]
		keys = keys[len(batch):]
		if _, err := cl.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String(c.bucket),
			Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)}}); err != nil {
			return fmt.Errorf("delete what %s wrote: %w", name, err)
		}
	}
	return nil
}

type result struct {
	ops       int
	elapsed   time.Duration
	latencies []time.Duration
}

func (r result) pct(p int) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, len(r.latencies)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// phaseRun calls fn from conc workers until d has passed; every call is
// bounded by the phase's end, so the loop stops by itself.
func phaseRun(ctx context.Context, conc int, d time.Duration, fn func(w, i int) error) (result, error) {
	var mu sync.Mutex
	var res result
	var firstErr atomic.Pointer[error]
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			for i := 0; time.Now().Before(deadline) && firstErr.Load() == nil; i++ {
				t0 := time.Now()
				if err := fn(w, i); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.ops += len(lat)
			res.latencies = append(res.latencies, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.latencies)
	if e := firstErr.Load(); e != nil {
		return res, *e
	}
	if res.ops == 0 {
		return res, errors.New("no operation completed")
	}
	return res, ctx.Err()
}

// list fills a prefix with listKeys small objects (once) and times full
// ListObjectsV2 walks of it, 1000 keys a page.
func list(ctx context.Context, cl *awss3.Client, c config) error {
	prefix := fmt.Sprintf("list-%d/", c.listKeys)
	count := func() (int, time.Duration, error) {
		t0 := time.Now()
		n := 0
		p := awss3.NewListObjectsV2Paginator(cl, &awss3.ListObjectsV2Input{Bucket: aws.String(c.bucket), Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return 0, 0, err
			}
			n += len(out.Contents)
		}
		return n, time.Since(t0), nil
	}
	have, _, err := count()
	if err != nil {
		return err
	}
	if have < c.listKeys {
		var next atomic.Int64
		next.Store(int64(have))
		var wg sync.WaitGroup
		var firstErr atomic.Pointer[error]
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1) - 1; i < int64(c.listKeys) && firstErr.Load() == nil; i = next.Add(1) - 1 {
					_, err := cl.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(c.bucket),
						Key: aws.String(fmt.Sprintf("%s%08d", prefix, i)), Body: bytes.NewReader([]byte("x"))})
					if err != nil {
						firstErr.CompareAndSwap(nil, &err)
					}
				}
			}()
		}
		wg.Wait()
		if e := firstErr.Load(); e != nil {
			return fmt.Errorf("fill listing prefix: %w", *e)
		}
	}
	var best time.Duration
	for range 3 {
		n, d, err := count()
		if err != nil {
			return err
		}
		if n < c.listKeys {
			return fmt.Errorf("listed %d keys, want %d", n, c.listKeys)
		}
		if best == 0 || d < best {
			best = d
		}
	}
	fmt.Printf("LIST %d keys (1000 per page): best of 3 %.3f s\n", c.listKeys, best.Seconds())
	return nil
}

// multipart uploads an object of mpSize in parts of partSize, four at a
// time, and times the upload and the CompleteMultipartUpload on its own
// (a server that copies the parts on Complete spends seconds there; one
// that records a manifest, milliseconds). The object is read back whole,
// to check its size, and deleted.
func multipart(ctx context.Context, cl *awss3.Client, c config) error {
	part := make([]byte, c.partSize)
	if _, err := rand.Read(part); err != nil {
		return err
	}
	key := aws.String("multipart/object")
	up, err := cl.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(c.bucket), Key: key})
	if err != nil {
		return fmt.Errorf("create upload: %w", err)
	}
	n := int((c.mpSize + c.partSize - 1) / c.partSize)
	done := make([]types.CompletedPart, n)
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	t0 := time.Now()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(n) && firstErr.Load() == nil; i = next.Add(1) - 1 {
				size := min(c.partSize, c.mpSize-i*c.partSize)
				out, err := cl.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String(c.bucket), Key: key, UploadId: up.UploadId,
					PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(part[:size]), ContentLength: aws.Int64(size)})
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				done[i] = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))}
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return fmt.Errorf("upload part: %w", *e)
	}
	upload := time.Since(t0)
	t1 := time.Now()
	if _, err := cl.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String(c.bucket), Key: key,
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		return fmt.Errorf("complete: %w", err)
	}
	complete := time.Since(t1)
	t2 := time.Now()
	out, err := cl.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(c.bucket), Key: key})
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	got, err := io.Copy(io.Discard, out.Body)
	out.Body.Close()
	if err == nil && got != c.mpSize {
		err = fmt.Errorf("GET returned %d bytes, want %d", got, c.mpSize)
	}
	if err != nil {
		return err
	}
	get := time.Since(t2)
	mib := float64(c.mpSize) / (1 << 20)
	fmt.Printf("MP  size=%d parts=%d×%d: upload %8.1f MiB/s  complete %8.1f ms  GET %8.1f MiB/s\n",
		c.mpSize, n, c.partSize, mib/upload.Seconds(), ms(complete), mib/get.Seconds())
	if _, err := cl.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(c.bucket), Key: key}); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}
