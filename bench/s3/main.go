// Command s3 benchmarks any S3 endpoint (Stowage, MinIO, …) with the
// measurements the S3 issue asks for: PUT and GET throughput of large
// objects, PUT and GET rate and latency (p50/p99) of small objects, the
// time to list a bucket of many keys with ListObjectsV2, and a multipart
// upload with its Complete timed on its own. Given a peer
// (-peer-endpoint …) it measures both servers in one run, alternating
// them test by test, and prints a table of ratios (above 1: the first
// server is better), with the load average seen; compare ratios, never
// absolute numbers from different runs.
//
//	go run ./bench/s3 -endpoint http://127.0.0.1:9000 -access-key AK -secret-key SK
//	go run ./bench/s3 -endpoint … -peer-endpoint http://127.0.0.1:9100 -peer-access-key … -load 4
//	go run ./bench/s3 -test small -concurrency 32 -size 4096 -duration 20s …
//	go run ./bench/s3 -test listscale -scale-keys 200000 -scale-prefixes 100 …
//
// -dd-dir DIR (a directory on the first server's disk, e.g. under its
// data dir) also times `dd if=/dev/zero bs=1M count=64 conv=fdatasync`
// there, three times just before and three just after the large test,
// and prints each server's large PUT rate as a ratio to dd's median: the
// disk's own pace for what a large PUT must do.
//
// -load N makes the run two rounds: one quiet, then one with a CPU hog of
// N busy goroutines (a child process of this program) beside both
// servers, so that the loaded ratio can be reproduced.
//
// -pid (and -peer-pid) name the servers' processes when they run on this
// machine: every phase then also reports the CPU time it cost the server
// per operation (per GiB for the multipart upload, and with the bench
// client's own CPU the rate both could reach on idle CPUs for large
// objects). On a loaded machine
// that is the steadier comparison: there the scheduler shares the CPU out
// by runnable threads, so rates tell as much about a server's thread
// count as about its work. GETs also report what the server read from
// disk rather than the page cache: a server that writes large bodies
// around the page cache (Stowage) reads them back cold, one that writes
// through it (MinIO) serves them from memory, and their GET rates then
// compare a disk with RAM.
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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
	"github.com/aws/smithy-go/middleware"

	"github.com/stowage/stowage/internal/procstat"
)

// target is one server to measure.
type target struct {
	name, endpoint, accessKey, secretKey, region string
	// pid, when set, is the server's process on this machine: each phase
	// also reports the CPU time it took, which a loaded box does not skew
	// the way it skews rates.
	pid int
}

type config struct {
	target
	peer                           target
	bucket, test                   string
	concurrency                    int
	size                           int64
	duration                       time.Duration
	listKeys                       int
	scaleKeys, scalePrefixes, reps int
	load                           int
	mpSize, partSize               int64
	ddDir                          string
}

// hogEnv makes this program a CPU hog of that many busy goroutines (the
// child that -load starts).
const hogEnv = "BENCH_S3_HOG"

func main() {
	if n, err := strconv.Atoi(os.Getenv(hogEnv)); err == nil && n > 0 {
		hog(n)
	}
	var c config
	flag.StringVar(&c.name, "name", "stowage", "what to call the server at -endpoint")
	flag.StringVar(&c.endpoint, "endpoint", "http://127.0.0.1:9000", "S3 endpoint URL")
	flag.StringVar(&c.accessKey, "access-key", os.Getenv("AWS_ACCESS_KEY_ID"), "access key id")
	flag.StringVar(&c.secretKey, "secret-key", os.Getenv("AWS_SECRET_ACCESS_KEY"), "secret key")
	flag.StringVar(&c.region, "region", "us-east-1", "region to sign for")
	flag.IntVar(&c.pid, "pid", 0, "the server's process id: print its CPU time per GiB in the large and small tests")
	flag.IntVar(&c.peer.pid, "peer-pid", 0, "the peer's process id, as -pid")
	flag.StringVar(&c.ddDir, "dd-dir", "", "a directory on the server's disk: time dd conv=fdatasync there around the large test and print PUT large as a ratio to it")
	flag.StringVar(&c.peer.name, "peer-name", "peer", "what to call the server at -peer-endpoint")
	flag.StringVar(&c.peer.endpoint, "peer-endpoint", "", "a second S3 endpoint to measure in the same run, with ratios")
	flag.StringVar(&c.peer.accessKey, "peer-access-key", "", "the peer's access key id")
	flag.StringVar(&c.peer.secretKey, "peer-secret-key", "", "the peer's secret key")
	flag.StringVar(&c.peer.region, "peer-region", "us-east-1", "the peer's region")
	flag.IntVar(&c.load, "load", 0, "when positive, measure a second round with this many busy goroutines in a child process")
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
	if err := compare(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// hog spins n goroutines until the process is killed.
func hog(n int) {
	runtime.GOMAXPROCS(n)
	for range n - 1 {
		go spin()
	}
	spin()
}

func spin() {
	x := uint64(1)
	for {
		x = x*6364136223846793005 + 1442695040888963407
		if x == 0 {
			fmt.Println(x) // never; keeps the loop from being optimised out
		}
	}
}

// metric is one row of the comparison table.
type metric struct {
	name        string
	v           float64
	unit        string
	lowerBetter bool
}

type round struct {
	name string
	hog  int
}

// compare runs the tests against the target and, when given, the peer,
// in one round or two (quiet, then loaded), and prints the ratio table.
func compare(ctx context.Context, c config) error {
	targets := []target{c.target}
	if c.peer.endpoint != "" {
		targets = append(targets, c.peer)
	}
	rounds := []round{{"no added load", 0}}
	if c.load > 0 {
		rounds = append(rounds, round{fmt.Sprintf("+%d busy goroutines", c.load), c.load})
	}
	type row struct {
		round string
		m     [2]metric
		load  [2]string
	}
	var rows []row
	type ddRow struct {
		round   string
		dd      []float64 // MiB/s of each dd run, sorted
		put     [2]float64
		loadAft string
	}
	var dds []ddRow
	for _, r := range rounds {
		stop, err := startHog(r.hog)
		if err != nil {
			return err
		}
		tests := []string{c.test}
		if c.test == "all" {
			tests = []string{"large", "small", "list", "multipart"}
		}
		for _, t := range tests {
			var got [2][]metric
			var load [2]string
			var dd []float64
			if t == "large" && c.ddDir != "" {
				if dd, err = ddRates(ctx, c.ddDir, 3); err != nil {
					stop()
					return err
				}
			}
			for i, tg := range targets {
				fmt.Printf("# %s, %s: %s\n", r.name, t, tg.name)
				ms, err := run(ctx, c, tg, t)
				if err != nil {
					stop()
					return fmt.Errorf("%s: %w", tg.name, err)
				}
				got[i], load[i] = ms, loadavg()
			}
			if dd != nil {
				after, err := ddRates(ctx, c.ddDir, 3)
				if err != nil {
					stop()
					return err
				}
				d := ddRow{round: r.name, dd: append(dd, after...), loadAft: loadavg()}
				slices.Sort(d.dd)
				for i := range targets {
					d.put[i] = got[i][0].v // PUT large MiB/s comes first
				}
				dds = append(dds, d)
			}
			for j, m := range got[0] {
				rw := row{round: r.name, load: load}
				rw.m[0] = m
				if len(targets) > 1 && j < len(got[1]) {
					rw.m[1] = got[1][j]
				}
				rows = append(rows, rw)
			}
		}
		stop()
	}
	if len(dds) > 0 {
		fmt.Printf("\nPUT large vs dd if=/dev/zero bs=1M count=64 conv=fdatasync in %s (median of 6 runs: 3 before, 3 after the test)\n", c.ddDir)
		fmt.Printf("%-28s %-14s %12s %18s %7s", "round", "dd min–max", "dd median", c.name+" PUT", "ratio")
		if len(targets) > 1 {
			fmt.Printf(" %18s %7s", c.peer.name+" PUT", "ratio")
		}
		fmt.Printf("  load (1 min) after\n")
		for _, d := range dds {
			med := d.dd[len(d.dd)/2]
			fmt.Printf("%-28s %-14s %12.1f %18.1f %7.2f", d.round, fmt.Sprintf("%.0f–%.0f", d.dd[0], d.dd[len(d.dd)-1]), med, d.put[0], d.put[0]/med)
			if len(targets) > 1 {
				fmt.Printf(" %18.1f %7.2f", d.put[1], d.put[1]/med)
			}
			fmt.Printf("  %s\n", d.loadAft)
		}
	}
	if len(targets) < 2 {
		return nil
	}
	fmt.Printf("\n%d CPUs. ratio: %s over %s, above 1 when %s is better (faster, or shorter time)\n",
		runtime.NumCPU(), c.name, c.peer.name, c.name)
	fmt.Printf("%-28s %-42s %14s %14s %7s  %s\n", "round", "test", c.name, c.peer.name, "ratio", "load (1 min) after each")
	for _, rw := range rows {
		a, b := rw.m[0], rw.m[1]
		ratio := a.v / b.v
		if a.lowerBetter {
			ratio = b.v / a.v
		}
		fmt.Printf("%-28s %-42s %14s %14s %7.2f  %s / %s\n", rw.round, a.name+" ("+a.unit+")",
			strconv.FormatFloat(a.v, 'f', 1, 64), strconv.FormatFloat(b.v, 'f', 1, 64), ratio, rw.load[0], rw.load[1])
	}
	return nil
}

// startHog starts n busy goroutines in a child process (none when n is 0)
// and returns what stops it.
func startHog(n int) (func(), error) {
	if n <= 0 {
		return func() {}, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), hogEnv+"="+strconv.Itoa(n))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the CPU hog: %w", err)
	}
	// Let the load average climb before measuring.
	time.Sleep(5 * time.Second)
	return func() { cmd.Process.Kill(); cmd.Wait() }, nil
}

// ddRates runs dd n times in dir, each writing 64 MiB of zeros and
// syncing them, and returns the rates in MiB/s as dd reports them.
func ddRates(ctx context.Context, dir string, n int) ([]float64, error) {
	f := filepath.Join(dir, fmt.Sprintf("bench-s3-dd-%d", os.Getpid()))
	defer os.Remove(f)
	var out []float64
	for range n {
		cmd := exec.CommandContext(ctx, "dd", "if=/dev/zero", "of="+f, "bs=1M", "count=64", "conv=fdatasync")
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		msg, err := cmd.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("dd: %w: %s", err, msg)
		}
		// "67108864 bytes (67 MB, 64 MiB) copied, 0.0716467 s, 937 MB/s"
		_, rest, ok := strings.Cut(string(msg), " copied, ")
		secs, perr := strconv.ParseFloat(strings.Fields(rest + " x")[0], 64)
		if !ok || perr != nil || secs <= 0 {
			return nil, fmt.Errorf("dd: cannot read its time in %q", msg)
		}
		out = append(out, 64/secs)
	}
	return out, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func newClient(c config, tg target) *awss3.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	return awss3.New(awss3.Options{
		Region:       tg.region,
		BaseEndpoint: aws.String(tg.endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(tg.accessKey, tg.secretKey, ""),
		HTTPClient:   &http.Client{Transport: tr},
		// Keep the client's CPU for sending: no payload hashing or CRCs,
		// the same for every server measured.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		APIOptions:                 []func(*middleware.Stack) error{v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware},
		EndpointResolverV2:         pathStyle{tg.endpoint},
	})
}

// pathStyle resolves every request to endpoint/bucket. The SDK's own
// resolver runs AWS's endpoint rules twice per request, and for a region
// outside its tables (Stowage's local-1, radosgw's default) they compile
// the partitions' regular expressions each time: profiled, that was a
// quarter of this client's CPU, twice its cost per small GET against a
// server in us-east-1, which skewed every small-object ratio. The rules
// have nothing to decide for a path-style endpoint given outright.
type pathStyle struct{ endpoint string }

func (r pathStyle) ResolveEndpoint(_ context.Context, p awss3.EndpointParameters) (smithyendpoints.Endpoint, error) {
	u, err := url.Parse(r.endpoint)
	if err != nil {
		return smithyendpoints.Endpoint{}, err
	}
	if p.Bucket != nil {
		u = u.JoinPath(*p.Bucket)
	}
	return smithyendpoints.Endpoint{URI: *u}, nil
}

// run runs one test against one server.
func run(ctx context.Context, c config, tg target, test string) ([]metric, error) {
	cl := newClient(c, tg)
	if _, err := cl.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(c.bucket)}); err != nil {
		if _, herr := cl.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(c.bucket)}); herr != nil {
			return nil, fmt.Errorf("create bucket: %w", err)
		}
	}
	switch test {
	case "large":
		return throughput(ctx, cl, c, tg.pid, "large", 64<<20, 4)
	case "small":
		return throughput(ctx, cl, c, tg.pid, "small", 4<<10, 32)
	case "list":
		return list(ctx, cl, c)
	case "multipart":
		return multipart(ctx, cl, c, tg.pid)
	case "listscale":
		return listScale(ctx, cl, c)
	}
	return nil, fmt.Errorf("unknown test %q", test)
}

// throughput runs a PUT phase then a GET phase of duration each, with
// conc workers, and reports MiB/s, ops/s and latency percentiles (and, with
// the server's pid, its CPU time per operation and per GiB moved).
func throughput(ctx context.Context, cl *awss3.Client, c config, pid int, name string, size int64, conc int) ([]metric, error) {
	if c.size > 0 {
		size = c.size
	}
	if c.concurrency > 0 {
		conc = c.concurrency
	}
	body := make([]byte, size)
	if _, err := rand.Read(body); err != nil {
		return nil, err
	}
	var out []metric
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
	// GETs cycle over the first few objects each worker wrote, the same
	// set on every server: over all it wrote, a server that writes faster
	// would be read more cold from disk (large bodies are written around
	// the page cache) and its GET rate would pay for its PUT rate.
	readSet := 8
	if size < 1<<20 {
		readSet = 256
	}
	get := func(w, i int) error {
		n := max(min(written[w], readSet), 1)
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
		cpu0, self0, rd0 := procstat.CPU(pid), procstat.CPU(os.Getpid()), procstat.DiskRead(pid)
		r, err := phaseRun(ctx, conc, c.duration, phase.fn)
		cpu, self, rd := procstat.CPU(pid)-cpu0, procstat.CPU(os.Getpid())-self0, procstat.DiskRead(pid)-rd0
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", phase.op, name, err)
		}
		secs := r.elapsed.Seconds()
		what := fmt.Sprintf("%s %s ×%d", phase.op, name, conc)
		if size >= 1<<20 {
			out = append(out, metric{what, float64(r.ops) * float64(size) / secs / (1 << 20), "MiB/s", false})
		} else {
			out = append(out, metric{what, float64(r.ops) / secs, "ops/s", false})
		}
		out = append(out, metric{what + " p99", ms(r.pct(99)), "ms", true})
		fmt.Printf("%-3s %-5s size=%d conc=%d: %8.1f MiB/s %8.1f ops/s  p50 %6.1f ms  p99 %6.1f ms  (%d ops in %.1fs)",
			phase.op, name, size, conc, float64(r.ops)*float64(size)/secs/(1<<20), float64(r.ops)/secs,
			ms(r.pct(50)), ms(r.pct(99)), r.ops, secs)
		if pid > 0 {
			perOp := ms(cpu) / float64(r.ops)
			out = append(out, metric{what + " server CPU", perOp, "ms/op", true})
			fmt.Printf("  server cpu %.2f s %.3f ms/op", cpu.Seconds(), perOp)
			if phase.op == "GET" {
				fmt.Printf("  read from disk %.0f MiB", float64(rd)/(1<<20))
			}
		}
		fmt.Println()
		if pid > 0 {
			// What the two would move per second with every CPU to
			// themselves: the ceiling on a quiet machine.
			gib := float64(r.ops) * float64(size) / (1 << 30)
			fmt.Printf("    CPU per GiB: server %.2f s, this client %.2f s: at most %.0f MiB/s on %d idle CPUs (load %s)\n",
				cpu.Seconds()/gib, self.Seconds()/gib, float64(runtime.NumCPU())*1024/((cpu+self).Seconds()/gib), runtime.NumCPU(), loadavg())
		}
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
			return nil, fmt.Errorf("delete what %s wrote: %w", name, err)
		}
	}
	return out, nil
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
func list(ctx context.Context, cl *awss3.Client, c config) ([]metric, error) {
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
		return nil, err
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
			return nil, fmt.Errorf("fill listing prefix: %w", *e)
		}
	}
	var best time.Duration
	for range 3 {
		n, d, err := count()
		if err != nil {
			return nil, err
		}
		if n < c.listKeys {
			return nil, fmt.Errorf("listed %d keys, want %d", n, c.listKeys)
		}
		if best == 0 || d < best {
			best = d
		}
	}
	fmt.Printf("LIST %d keys (1000 per page): best of 3 %.3f s\n", c.listKeys, best.Seconds())
	return []metric{{fmt.Sprintf("LIST %d keys, best of 3", c.listKeys), ms(best), "ms", true}}, nil
}

// multipart uploads an object of mpSize in parts of partSize, four at a
// time, and times the upload and the CompleteMultipartUpload on its own
// (a server that copies the parts on Complete spends seconds there; one
// that records a manifest, milliseconds). The object is read back whole,
// to check its size, and deleted. With the server's pid it reports the
// upload's CPU time per GiB.
func multipart(ctx context.Context, cl *awss3.Client, c config, pid int) ([]metric, error) {
	part := make([]byte, c.partSize)
	if _, err := rand.Read(part); err != nil {
		return nil, err
	}
	key := aws.String("multipart/object")
	up, err := cl.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(c.bucket), Key: key})
	if err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	n := int((c.mpSize + c.partSize - 1) / c.partSize)
	done := make([]types.CompletedPart, n)
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	cpu0 := procstat.CPU(pid)
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
		return nil, fmt.Errorf("upload part: %w", *e)
	}
	upload := time.Since(t0)
	cpu := procstat.CPU(pid) - cpu0
	t1 := time.Now()
	if _, err := cl.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String(c.bucket), Key: key,
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		return nil, fmt.Errorf("complete: %w", err)
	}
	complete := time.Since(t1)
	t2, rd0 := time.Now(), procstat.DiskRead(pid)
	out, err := cl.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(c.bucket), Key: key})
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	got, err := io.Copy(io.Discard, out.Body)
	out.Body.Close()
	if err == nil && got != c.mpSize {
		err = fmt.Errorf("GET returned %d bytes, want %d", got, c.mpSize)
	}
	if err != nil {
		return nil, err
	}
	get, rd := time.Since(t2), procstat.DiskRead(pid)-rd0
	mib := float64(c.mpSize) / (1 << 20)
	fmt.Printf("MP  size=%d parts=%d×%d: upload %8.1f MiB/s  complete %8.1f ms  GET %8.1f MiB/s",
		c.mpSize, n, c.partSize, mib/upload.Seconds(), ms(complete), mib/get.Seconds())
	if pid > 0 {
		fmt.Printf("  upload server cpu %.2f s %.3f s/GiB  GET read from disk %.0f MiB", cpu.Seconds(), cpu.Seconds()*1024/mib, float64(rd)/(1<<20))
	}
	fmt.Println()
	if _, err := cl.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(c.bucket), Key: key}); err != nil {
		return nil, fmt.Errorf("delete: %w", err)
	}
	name := fmt.Sprintf("multipart %d MiB in %d MiB parts", c.mpSize>>20, c.partSize>>20)
	res := []metric{{name + " upload", mib / upload.Seconds(), "MiB/s", false},
		{name + " Complete", ms(complete), "ms", true},
		{name + " GET", mib / get.Seconds(), "MiB/s", false}}
	if pid > 0 {
		res = append(res, metric{name + " upload server CPU", cpu.Seconds() * 1024 / mib, "s/GiB", true})
	}
	return res, nil
}
