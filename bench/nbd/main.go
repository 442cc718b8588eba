// Command nbd benchmarks Stowage's NBD server over a thin pool against
// `nbdkit file` on a backing file of the same size, running identical fio
// jobs (ioengine=nbd) against each in one run, then measures snapshot and
// clone latency on a fully written volume.
//
//	go run ./bench/nbd [-size 4G] [-runtime 15s] [-snapsize 10G] [-dir /var/tmp]
//
// It needs fio (with the nbd engine) and nbdkit on PATH.
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
	bytes      float64 // moved in the whole job
}

// selfCPU is this process's CPU time: our server's, as the harness idles
// while fio runs.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is another process's CPU time, from /proc (clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
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
	if err := run(*size, *runtime, *snapSize, *dirFlag, *rounds); err != nil {
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

type poolResolver struct{ p *blockstore.Pool }

func (r poolResolver) Resolve(ctx context.Context, name string) (nbd.Export, error) {
	v, err := r.p.Volume(ctx, name)
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (r poolResolver) List(ctx context.Context) ([]string, error) { return r.p.List(ctx) }

func run(sizeStr string, runtime time.Duration, snapSizeStr, parent string, rounds int) error {
	for _, tool := range []string{"fio", "nbdkit"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is required: %w", tool, err)
		}
	}
	size, err := parseSize(sizeStr)
	if err != nil {
		return err
	}
	snapSize, err := parseSize(snapSizeStr)
	if err != nil {
		return err
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
	srv := nbd.NewServer(poolResolver{pool}, nbd.Options{})
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
	fmt.Printf("%-20s %22s %22s %7s %11s %11s\n", "job", "stowage", "nbdkit file", "ratio", "CPU ms/GiB", "nbdkit CPU")
	for _, j := range jobs {
		// Alternate the targets so that background load on a shared box
		// hits both alike, and keep each one's best round.
		var a, b result
		var aCPU, bCPU time.Duration
		var aBytes, bBytes float64
		for range rounds {
			t0 := selfCPU()
			r, err := fio(ours, j, sizeStr, runtime)
			if err != nil {
				return fmt.Errorf("fio %s against stowage: %w", j.name, err)
			}
			aCPU += selfCPU() - t0
			aBytes += r.bytes
			if r.iops > a.iops {
				a = r
			}
			t0 = procCPU(kit.Process.Pid)
			if r, err = fio(peer, j, sizeStr, runtime); err != nil {
				return fmt.Errorf("fio %s against nbdkit: %w", j.name, err)
			}
			bCPU += procCPU(kit.Process.Pid) - t0
			bBytes += r.bytes
			if r.iops > b.iops {
				b = r
			}
		}
		fmt.Printf("%-20s %9.0f IOPS %6.0f MiB/s %9.0f IOPS %6.0f MiB/s %7.2f %11.0f %11.0f\n", j.name, a.iops, a.mibs, b.iops, b.mibs, a.iops/b.iops,
			perGiB(aCPU, aBytes), perGiB(bCPU, bBytes))
	}
	fmt.Printf("load after the jobs: %s\n", loadavg())
	kit.Process.Kill()
	cancel()
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return snapLatency(pool, snapSize)
}

func fio(uri string, j job, size string, runtime time.Duration) (result, error) {
	args := []string{"--name=" + strings.ReplaceAll(j.name, " ", "_"), "--ioengine=nbd", "--uri=" + uri,
		"--size=" + size, "--rw=" + j.rw, "--bs=" + j.bs, "--iodepth=" + strconv.Itoa(j.depth),
		"--time_based", "--runtime=" + strconv.Itoa(int(runtime.Seconds())), "--output-format=json"}
	out, err := exec.Command("fio", args...).Output()
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
	return result{iops: st.IOPS, mibs: st.BWBytes / (1 << 20), bytes: st.IOBytes}, nil
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
	buf := make([]byte, 4<<20)
	for i := range buf {
		buf[i] = byte(i*31 + i>>12)
	}
	start := time.Now()
	for off := int64(0); off < size; off += int64(len(buf)) {
		buf[0], buf[1] = byte(off>>22), byte(off>>30)
		if err := v.WriteAt(ctx, buf, off); err != nil {
			return err
		}
	}
	if err := pool.Flush(ctx); err != nil {
		return err
	}
	st, err := pool.Stat(ctx, "big")
	if err != nil {
		return err
	}
	fmt.Printf("\nwrote %d GiB volume (%d GiB allocated) and flushed in %v\n", size>>30, st.Allocated>>30, time.Since(start).Round(time.Millisecond))
	var snaps, clones, cow []time.Duration
	for i := range 9 {
		t0 := time.Now()
		s := fmt.Sprintf("big@%d", i)
		if err := pool.Snapshot(ctx, "big", s); err != nil {
			return err
		}
		snaps = append(snaps, time.Since(t0))
		t0 = time.Now()
		c := fmt.Sprintf("big-clone%d", i)
		if err := pool.Clone(ctx, s, c); err != nil {
			return err
		}
		clones = append(clones, time.Since(t0))
		h, err := pool.Volume(ctx, c)
		if err != nil {
			return err
		}
		t0 = time.Now()
		if err := h.WriteAt(ctx, buf[:4096], (int64(i)<<30)%size); err != nil {
			return err
		}
		cow = append(cow, time.Since(t0))
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
	return fmt.Errorf("nbdkit did not listen on %d", port)
}

func cpus() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}
