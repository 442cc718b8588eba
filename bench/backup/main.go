// Command backup measures incremental volume backups as the issue asks,
// in one run: a volume (-size) fully written with random data is backed
// up, then -rewrite of its chunks are rewritten at random places and it is
// backed up again; the second backup's bytes are compared with the volume
// size. Both backups are restored into new volumes (checked equal to their
// snapshots with qemu-img compare over NBD), and each restore is timed
// against reading the whole volume over NBD with nbdcopy.
//
//	go run ./bench/backup [-size 10G] [-rewrite 0.01] [-dir /var/tmp]
//
// The backups go to a directory (backup.DirStore) on the same disk as the
// pool: the bytes are what a bucket would receive, without the S3 plane's
// own cost. It needs qemu-img and nbdcopy on PATH.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/stowage/stowage/internal/backup"
	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/nbd/nbdtest"
)

func main() {
	size := flag.Int64("size", 10<<30, "volume size in bytes")
	rewrite := flag.Float64("rewrite", 0.01, "fraction of chunks rewritten before the second backup")
	dir := flag.String("dir", "/var/tmp", "directory for the pool and the backups")
	flag.Parse()
	if err := run(*size, *rewrite, *dir); err != nil {
		log.Fatal(err)
	}
}

func run(size int64, rewrite float64, dir string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	work, err := os.MkdirTemp(dir, "backup-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	pool, err := blockstore.Open(ctx, filepath.Join(work, "pool"), blockstore.Options{})
	if err != nil {
		return err
	}
	defer pool.Close()
	chunk := pool.ChunkSize()
	if err := pool.Create(ctx, "v", size); err != nil {
		return err
	}
	v, err := pool.Volume(ctx, "v")
	if err != nil {
		return err
	}
	buf := make([]byte, 4<<20)
	t0 := time.Now()
	for off := int64(0); off < size; off += int64(len(buf)) {
		b := buf[:min(int64(len(buf)), size-off)]
		rand.Read(b)
		if err := v.WriteAt(ctx, b, off); err != nil {
			return err
		}
	}
	if err := v.Flush(ctx); err != nil {
		return err
	}
	fmt.Printf("wrote %d MiB of random data in %v\n", size>>20, time.Since(t0).Round(time.Millisecond))

	key := make([]byte, 32)
	rand.Read(key)
	st := backup.DirStore{Dir: filepath.Join(work, "bucket")}
	set, err := backup.Open(st, "stowage-backups/v/", "v", key)
	if err != nil {
		return err
	}
	defer set.Close()
	take := func(snap, parentSnap, id, parent string) (backup.Result, time.Duration, error) {
		t0 := time.Now()
		if err := pool.Snapshot(ctx, "v", snap); err != nil {
			return backup.Result{}, 0, err
		}
		changed, err := pool.Changed(ctx, parentSnap, snap)
		if err != nil {
			return backup.Result{}, 0, err
		}
		h, err := pool.Volume(ctx, snap)
		if err != nil {
			return backup.Result{}, 0, err
		}
		res, err := set.Backup(ctx, h, backup.Options{ID: id, Parent: parent, Changed: changed, ChunkSize: chunk, Now: time.Now()})
		return res, time.Since(t0), err
	}
	full, tFull, err := take("s1", "", "b1", "")
	if err != nil {
		return err
	}

	nChunks := size / chunk
	k := int(float64(nChunks) * rewrite)
	rng := mrand.New(mrand.NewPCG(3, 4))
	picked := rng.Perm(int(nChunks))[:k]
	slices.Sort(picked)
	cbuf := make([]byte, chunk)
	for _, c := range picked {
		rand.Read(cbuf)
		if err := v.WriteAt(ctx, cbuf, int64(c)*chunk); err != nil {
			return err
		}
	}
	if err := v.Flush(ctx); err != nil {
		return err
	}
	inc, tInc, err := take("s2", "s1", "b2", "b1")
	if err != nil {
		return err
	}

	base, stop, err := nbdtest.Serve(nbdtest.Resolver{Pool: pool})
	if err != nil {
		return err
	}
	defer stop()
	uri := func(n string) string { return base + n }

	restore := func(id, into, want string) (time.Duration, error) {
		if err := pool.Create(ctx, into, size); err != nil {
			return 0, err
		}
		h, err := pool.Volume(ctx, into)
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		if _, err := set.Restore(ctx, id, h); err != nil {
			return 0, err
		}
		d := time.Since(t0)
		if out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "raw", uri(want), uri(into)).CombinedOutput(); err != nil {
			return d, fmt.Errorf("restored %s differs from %s: %v\n%s", id, want, err, out)
		}
		return d, nil
	}
	rFull, err := restore("b1", "r1", "s1")
	if err != nil {
		return err
	}
	rInc, err := restore("b2", "r2", "s2")
	if err != nil {
		return err
	}
	t0 = time.Now()
	if out, err := exec.Command("nbdcopy", uri("s2"), "null:").CombinedOutput(); err != nil {
		return fmt.Errorf("nbdcopy: %v\n%s", err, out)
	}
	tRead := time.Since(t0)
	// The same bytes written into a new volume over NBD: what a restore
	// must at least pay to write.
	if err := pool.Create(ctx, "copy", size); err != nil {
		return err
	}
	t0 = time.Now()
	if out, err := exec.Command("nbdcopy", "--flush", uri("s2"), uri("copy")).CombinedOutput(); err != nil {
		return fmt.Errorf("nbdcopy: %v\n%s", err, out)
	}
	tCopy := time.Since(t0)

	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	fmt.Printf("\n%d MiB volume, %d KiB chunks; second backup after rewriting %d chunks (%.2f%%) at random\n",
		size>>20, chunk>>10, k, 100*rewrite)
	fmt.Println("| step | time | bytes to the bucket | % of volume | MiB/s |")
	fmt.Println("|---|---|---|---|---|")
	row := func(name string, d time.Duration, n int64) {
		fmt.Printf("| %s | %v | %.1f MiB | %.3f%% | %.0f |\n", name, d.Round(time.Millisecond), mib(n), 100*float64(n)/float64(size), mib(size)/d.Seconds())
	}
	row("full backup", tFull, full.Written)
	row("incremental backup", tInc, inc.Written)
	fmt.Printf("| restore full backup | %v | | | %.0f |\n", rFull.Round(time.Millisecond), mib(size)/rFull.Seconds())
	fmt.Printf("| restore incremental backup | %v | | | %.0f |\n", rInc.Round(time.Millisecond), mib(size)/rInc.Seconds())
	fmt.Printf("| read whole volume over NBD (nbdcopy to null:) | %v | | | %.0f |\n", tRead.Round(time.Millisecond), mib(size)/tRead.Seconds())
	fmt.Printf("| copy whole volume into a new one over NBD (nbdcopy --flush) | %v | | | %.0f |\n", tCopy.Round(time.Millisecond), mib(size)/tCopy.Seconds())
	fmt.Printf("\nincremental/volume = %.3f%% (goal ≤ 1.5%%); restore / NBD read = %.2fx; restore / NBD copy into a volume = %.2fx\n",
		100*float64(inc.Written)/float64(size), rInc.Seconds()/tRead.Seconds(), rInc.Seconds()/tCopy.Seconds())
	return nil
}
