// Command blockstatus measures what NBD BLOCK_STATUS buys a client: it
// writes a little data (-written, in 1 MiB pieces at random places) into a
// large thin volume (-size), then times `qemu-img convert` and `nbdcopy`
// of the export to a local file twice in one run: once from an export
// that reports every byte allocated (the server's behaviour before
// BLOCK_STATUS, and what an export that cannot tell answers) and once
// from the real thin-pool export. As the yardstick for "proportional to
// the data", it also copies a volume of just the written size, fully
// written with the same data. It checks the copies match and that
// `qemu-img map` reports exactly the written ranges.
//
//	go run ./bench/blockstatus [-size 10G] [-written 1G] [-dir /var/tmp]
//
// It needs qemu-img and nbdcopy on PATH.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/nbd"
	"github.com/stowage/stowage/internal/nbd/nbdtest"
)

func main() {
	size := flag.Int64("size", 10<<30, "volume size in bytes")
	written := flag.Int64("written", 1<<30, "bytes written, in 1 MiB pieces")
	dir := flag.String("dir", "/var/tmp", "directory for the pool and the copies")
	flag.Parse()
	if err := run(*size, *written, *dir); err != nil {
		log.Fatal(err)
	}
}

// dense hides the pool's allocation: every byte is data.
type dense struct{ *blockstore.Volume }

func (dense) Allocated(_ context.Context, _, n int64) (int64, bool, error) { return n, true, nil }

type resolver struct{ p *blockstore.Pool }

func (r resolver) Resolve(ctx context.Context, name string) (nbd.Export, error) {
	id, isDense := name, false
	if name == "dense" {
		id, isDense = "v", true
	}
	v, err := r.p.Volume(ctx, id)
	if err != nil {
		return nil, err
	}
	if isDense {
		return dense{v}, nil
	}
	return v, nil
}

func (r resolver) List(ctx context.Context) ([]string, error) { return []string{"v", "dense"}, nil }

func run(size, written int64, dir string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	work, err := os.MkdirTemp(dir, "blockstatus-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	pool, err := blockstore.Open(ctx, filepath.Join(work, "pool"), blockstore.Options{})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := pool.Create(ctx, "v", size); err != nil {
		return err
	}
	v, err := pool.Volume(ctx, "v")
	if err != nil {
		return err
	}
	// Distinct 1 MiB slots at random, sorted: the expected map.
	const piece = 1 << 20
	rng := rand.New(rand.NewPCG(1, 2))
	slots := rng.Perm(int(size / piece))[:written/piece]
	slices.Sort(slots)
	if err := pool.Create(ctx, "small", written); err != nil {
		return err
	}
	small, err := pool.Volume(ctx, "small")
	if err != nil {
		return err
	}
	buf := make([]byte, piece)
	start := time.Now()
	for k, s := range slots {
		for i := range buf {
			buf[i] = byte(rng.Uint32() | 1)
		}
		if err := v.WriteAt(ctx, buf, int64(s)*piece); err != nil {
			return err
		}
		if err := small.WriteAt(ctx, buf, int64(k)*piece); err != nil {
			return err
		}
	}
	if err := v.Flush(ctx); err != nil {
		return err
	}
	fmt.Printf("wrote %d MiB at %d random 1 MiB slots of a %d MiB volume in %v\n", written>>20, len(slots), size>>20, time.Since(start).Round(time.Millisecond))

	base, stop, err := nbdtest.Serve(resolver{pool})
	if err != nil {
		return err
	}
	defer stop()
	uri := func(name string) string { return base + name }

	if err := checkMap(uri("v"), slots, piece, size); err != nil {
		return err
	}
	fmt.Println("qemu-img map: data extents match the written slots exactly")

	type row struct {
		tool                 string
		before, after, small time.Duration
	}
	var rows []row
	for _, tool := range []string{"qemu-img convert", "nbdcopy"} {
		var r row
		r.tool = tool
		for _, name := range []string{"dense", "v", "small"} {
			out := filepath.Join(work, tool[:3]+"-"+name+".raw")
			var cmd *exec.Cmd
			if tool == "nbdcopy" {
				if err := os.WriteFile(out, nil, 0o600); err != nil {
					return err
				}
				n := size
				if name == "small" {
					n = written
				}
				if err := os.Truncate(out, n); err != nil {
					return err
				}
				cmd = exec.Command("nbdcopy", uri(name), out)
			} else {
				cmd = exec.Command("qemu-img", "convert", "-f", "raw", "-O", "raw", uri(name), out)
			}
			t0 := time.Now()
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v\n%s", cmd, err, b)
			}
			d := time.Since(t0)
			switch name {
			case "dense":
				r.before = d
			case "v":
				r.after = d
			default:
				r.small = d
			}
		}
		a, b := filepath.Join(work, tool[:3]+"-dense.raw"), filepath.Join(work, tool[:3]+"-v.raw")
		if out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "raw", a, b).CombinedOutput(); err != nil {
			return fmt.Errorf("%s copies differ: %v\n%s", tool, err, out)
		}
		os.Remove(a)
		os.Remove(b)
		os.Remove(filepath.Join(work, tool[:3]+"-small.raw"))
		rows = append(rows, r)
	}
	fmt.Printf("\n%d MiB volume, %d MiB written; export to a local raw file\n", size>>20, written>>20)
	fmt.Println("| tool | no BLOCK_STATUS | BLOCK_STATUS | speed-up | a volume of only the written data | BLOCK_STATUS / that |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %v | %v | %.1fx | %v | %.2f |\n", r.tool, r.before.Round(time.Millisecond), r.after.Round(time.Millisecond),
			r.before.Seconds()/r.after.Seconds(), r.small.Round(time.Millisecond), r.after.Seconds()/r.small.Seconds())
	}
	return nil
}

// checkMap runs qemu-img map on the export and compares its data extents
// with the written slots.
func checkMap(uri string, slots []int, piece, size int64) error {
	out, err := exec.Command("qemu-img", "map", "--output=json", "-f", "raw", uri).Output()
	if err != nil {
		return fmt.Errorf("qemu-img map: %w", err)
	}
	var rows []struct {
		Start  int64 `json:"start"`
		Length int64 `json:"length"`
		Data   bool  `json:"data"`
	}
	if err := json.Unmarshal(out, &rows); err != nil {
		return err
	}
	var got, want [][2]int64
	for _, r := range rows {
		if !r.Data {
			continue
		}
		if n := len(got); n > 0 && got[n-1][1] == r.Start {
			got[n-1][1] += r.Length
		} else {
			got = append(got, [2]int64{r.Start, r.Start + r.Length})
		}
	}
	for _, s := range slots {
		off := int64(s) * piece
		if n := len(want); n > 0 && want[n-1][1] == off {
			want[n-1][1] += piece
		} else {
			want = append(want, [2]int64{off, off + piece})
		}
	}
	if !slices.Equal(got, want) {
		return errors.New("qemu-img map data extents differ from the written ranges")
	}
	return nil
}
