// Command nbd benchmarks Stowage's NBD server over a thin pool against
// `nbdkit file` on a backing file of the same size, running identical fio
// jobs (ioengine=nbd) against each in one run, then measures snapshot and
// clone latency on a fully written volume. A second table puts the same
// server over TLS (NBD_OPT_STARTTLS) against itself in plain text.
//
//	go run ./bench/nbd [-size 4G] [-runtime 15s] [-snapsize 10G] [-dir /var/tmp]
//
// It needs fio (with the nbd engine) and nbdkit on PATH.
//
// With -ceph CONF (a binary built with -tags 'ceph pacific') it measures
// the server on an RBD image instead, against fio's rbd engine (librbd
// direct) on the same image, and against qemu-nbd's rbd driver (Debian's
// qemu-block-extra) where it is installed; see rbd.go.
//
//	conf=$(STOWAGE_TEST_CEPH_BYTES=$((5<<30)) scripts/test-ceph.sh start)
//	go run -tags 'ceph pacific' ./bench/nbd -ceph "$conf" -size 1G -snapsize 1G
//
// The test cluster's memstore OSD holds 1 GiB unless told more: a 1 GiB
// image and its snapshot test fill it, and a full cluster blocks writes
// (fio then waits for ever).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/nbd"
	"github.com/stowage/stowage/internal/procstat"
)

type job struct {
	name  string
	rw    string
	bs    string
	depth int
}

// The order matters: the sequential write fills the target first, so the
// random and read jobs run against written data on both sides.
var jobs = []job{
	{"1M write QD8", "write", "1M", 8},
	{"4k randwrite QD32", "randwrite", "4k", 32},
	{"4k randread QD32", "randread", "4k", 32},
	{"1M read QD8", "read", "1M", 8},
}

type result struct {
	iops, mibs float64
	bytes      float64       // moved in the whole job
	ios        float64       // requests completed in the whole job
	fioCPU     time.Duration // fio's own CPU time (user+system), its engine's included
}

// selfCPU is this process's CPU time: our server's, as the harness idles
// while fio runs.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func perGiB(cpu time.Duration, bytes float64) float64 {
	if bytes == 0 {
		return 0
	}
	return float64(cpu.Milliseconds()) / (bytes / (1 << 30))
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func main() {
	size := flag.String("size", "4G", "export size for the fio jobs")
	runtime := flag.Duration("runtime", 15*time.Second, "fio runtime per job")
	snapSize := flag.String("snapsize", "10G", "size of the written volume for snapshot/clone latency")
	dirFlag := flag.String("dir", "/var/tmp", "directory for the pool and nbdkit's file")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of this process (our server) to this file")
	only := flag.String("only", "", "run only the fio jobs whose name contains this")
	rounds := flag.Int("rounds", 2, "alternating rounds per job; the best round of each target counts")
	ceph := flag.String("ceph", "", "ceph.conf of a cluster: benchmark on RBD against librbd direct")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *only != "" {
		jobs = slices.DeleteFunc(jobs, func(j job) bool { return !strings.Contains(j.name, *only) })
	}
	n, err := parseSize(*size)
	if err != nil {
		log.Fatalf("-size: %v", err)
	}
	snapN, err := parseSize(*snapSize)
	if err != nil {
		log.Fatalf("-snapsize: %v", err)
	}
	run := func() error { return run(*size, n, snapN, *runtime, *dirFlag, *rounds) }
	if *ceph != "" {
		run = func() error { return runRBD(*ceph, *size, n, snapN, *runtime, *rounds) }
	}
	if err := run(); err != nil {
		log.Print(err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

// resolver exports every volume a store opens by its id, for either
// store: the thin pool or RBD.
type resolver[V nbd.Export] struct {
	open func(ctx context.Context, id string) (V, error)
}

func (r resolver[V]) Resolve(ctx context.Context, name string) (nbd.Export, error) {
	v, err := r.open(ctx, name)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// List lists nothing: fio names its export.
func (r resolver[V]) List(context.Context) ([]string, error) { return nil, nil }

func run(sizeStr string, size, snapSize int64, runtime time.Duration, parent string, rounds int) error {
	for _, tool := range []string{"fio", "nbdkit"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is required: %w", tool, err)
		}
	}
	dir, err := os.MkdirTemp(parent, "stowage-bench-nbd-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Ours: the pool and the server in this process.
	pool, err := blockstore.Open(ctx, filepath.Join(dir, "pool"), blockstore.Options{})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := pool.Create(ctx, "bench", size); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := nbd.NewServer(resolver[*blockstore.Volume]{pool.Volume}, nbd.Options{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	ours := "nbd://" + ln.Addr().String() + "/bench"

	// The peer: nbdkit file on a fallocated file of the same size.
	img := filepath.Join(dir, "nbdkit.img")
	f, err := os.Create(img)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		return err
	}
	f.Close()
	if out, err := exec.Command("fallocate", "-l", strconv.FormatInt(size, 10), img).CombinedOutput(); err != nil {
		return fmt.Errorf("fallocate: %v %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	kit := exec.CommandContext(ctx, "nbdkit", "-f", "-p", strconv.Itoa(port), "-i", "127.0.0.1", "file", img)
	kit.Stderr = os.Stderr
	if err := kit.Start(); err != nil {
		return err
	}
	defer func() { kit.Process.Kill(); kit.Wait() }()
	peer := fmt.Sprintf("nbd://127.0.0.1:%d/", port)
	if err := waitPort(port); err != nil {
		return err
	}

	fmt.Printf("fio ioengine=nbd, size %s, %v per job, best of %d alternating rounds, %d CPUs\n\n", sizeStr, runtime, rounds, cpus())
	fmt.Printf("CPU ms/GiB: the server's CPU time (user+system) per GiB moved, over all rounds; unlike\n")
	fmt.Printf("throughput it hardly depends on what else the box runs. load: %s\n\n", loadavg())
	kitCPU := func() time.Duration { return procstat.CPU(kit.Process.Pid) }
	if err := compare(target{"stowage", nbdEngine(ours), selfCPU, false}, target{"nbdkit file", nbdEngine(peer), kitCPU, false}, jobs, sizeStr, runtime, rounds); err != nil {
		return err
	}
	tlsDir := filepath.Join(dir, "tls")
	if err := os.Mkdir(tlsDir, 0o700); err != nil {
		return err
	}
	if err := tlsVsPlain(ctx, pool, ours, tlsDir, sizeStr, runtime, rounds); err != nil {
		return err
	}
	fmt.Printf("load after the jobs: %s\n", loadavg())
	kit.Process.Kill()
	cancel()
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return snapLatency(pool, snapSize)
}

// nbdEngine is fio's engine arguments for an NBD URI.
func nbdEngine(uri string) []string { return []string{"--ioengine=nbd", "--uri=" + uri} }

// fio runs job j on the target that engine names (--ioengine and its
// options), for runtime, or once over size if runtime is 0.
func fio(engine []string, j job, size string, runtime time.Duration) (result, error) {
	args := append([]string{"--name=" + strings.ReplaceAll(j.name, " ", "_"), "--size=" + size}, engine...)
	args = append(args, "--rw="+j.rw, "--bs="+j.bs, "--iodepth="+strconv.Itoa(j.depth), "--output-format=json")
	if runtime > 0 {
		args = append(args, "--time_based", "--runtime="+strconv.Itoa(int(runtime.Seconds())))
	}
	cmd := exec.Command("fio", args...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return result{}, fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return result{}, err
	}
	var r struct {
		Jobs []struct {
			Read, Write struct {
				IOPS    float64 `json:"iops"`
				BWBytes float64 `json:"bw_bytes"`
				IOBytes float64 `json:"io_bytes"`
				IOs     float64 `json:"total_ios"`
			}
		} `json:"jobs"`
	}
	// fio may print notes before the JSON document.
	if i := strings.IndexByte(string(out), '{'); i > 0 {
		out = out[i:]
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Jobs) == 0 {
		return result{}, fmt.Errorf("parse fio output: %v", err)
	}
	st := r.Jobs[0].Read
	if strings.Contains(j.rw, "write") {
		st = r.Jobs[0].Write
	}
	// wait4's usage of fio counts the job processes it reaped.
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return result{iops: st.IOPS, mibs: st.BWBytes / (1 << 20), bytes: st.IOBytes, ios: st.IOs, fioCPU: cpu}, nil
}

// snapLatency writes a whole volume with real data, makes it durable, then
// times snapshots and clones of it, and the first write into a clone.
func snapLatency(pool *blockstore.Pool, size int64) error {
	ctx := context.Background()
	if err := pool.Create(ctx, "big", size); err != nil {
		return err
	}
	v, err := pool.Volume(ctx, "big")
	if err != nil {
		return err
	}
	start := time.Now()
	buf, err := fill(ctx, v, size)
	if err != nil {
		return err
	}
	if err := pool.Flush(ctx); err != nil {
		return err
	}
	st, err := pool.Stat(ctx, "big")
	if err != nil {
		return err
	}
	fmt.Printf("\nwrote %d GiB volume (%d GiB allocated) and flushed in %v\n", size>>30, st.Allocated>>30, time.Since(start).Round(time.Millisecond))
	snaps, clones, cow, err := timeCopies(9,
		func(i int) error { return pool.Snapshot(ctx, "big", fmt.Sprintf("big@%d", i)) },
		func(i int) error { return pool.Clone(ctx, fmt.Sprintf("big@%d", i), fmt.Sprintf("big-clone%d", i)) },
		func(i int) (func() error, error) {
			h, err := pool.Volume(ctx, fmt.Sprintf("big-clone%d", i))
			if err != nil {
				return nil, err
			}
			return func() error { return h.WriteAt(ctx, buf[:4096], (int64(i)<<30)%size) }, nil
		})
	if err != nil {
		return err
	}
	fmt.Printf("snapshot of written %d GiB: median %v, max %v (each includes its commit: 2 fdatasyncs)\n", size>>30, med(snaps), slices.Max(snaps))
	fmt.Printf("clone of that snapshot:     median %v, max %v\n", med(clones), slices.Max(clones))
	fmt.Printf("first 4k write into a clone (copies one 64 KiB chunk and its map pages): median %v\n", med(cow))
	r, err := pool.Fsck(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("fsck: %d volumes, %d pages, %d chunks, clean=%v\n", r.Volumes, r.Pages, r.Chunks, r.Clean())
	return nil
}

// timeCopies times n rounds of: snapshot i, clone i of it, and the first
// write into clone i (open returns it, so that opening is not timed).
func timeCopies(n int, snap, clone func(i int) error, open func(i int) (func() error, error)) (snaps, clones, writes []time.Duration, err error) {
	timed := func(f func() error, into *[]time.Duration) error {
		t0 := time.Now()
		err := f()
		*into = append(*into, time.Since(t0))
		return err
	}
	for i := range n {
		if err := timed(func() error { return snap(i) }, &snaps); err != nil {
			return nil, nil, nil, err
		}
		if err := timed(func() error { return clone(i) }, &clones); err != nil {
			return nil, nil, nil, err
		}
		w, err := open(i)
		if err != nil {
			return nil, nil, nil, err
		}
		if err := timed(w, &writes); err != nil {
			return nil, nil, nil, err
		}
	}
	return snaps, clones, writes, nil
}

// fill writes the whole of v with data that does not compress or
// deduplicate, 4 MiB at a time, and returns the last buffer written.
func fill(ctx context.Context, v interface {
	WriteAt(ctx context.Context, b []byte, off int64) error
}, size int64) ([]byte, error) {
	buf := make([]byte, 4<<20)
	for i := range buf {
		buf[i] = byte(i*31 + i>>12)
	}
	for off := int64(0); off < size; off += int64(len(buf)) {
		buf[0], buf[1] = byte(off>>22), byte(off>>30)
		if err := v.WriteAt(ctx, buf, off); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

func med(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Microsecond)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitPort(port int) error {
	for i := 0; i < 100; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listened on %d", port)
}

func cpus() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}
