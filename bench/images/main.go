// Command images measures image import: a raw image of -size bytes of
// random data (-fill of it written, the rest holes) and the same image as
// qcow2 (made by qemu-img) are imported into thin volumes with
// diskimage.Import, and each is compared with `qemu-img convert` of the
// same file to a raw file on the same disk, in one run. Every import is
// checked against its image with qemu-img compare over NBD.
//
//	go run ./bench/images [-size 2G] [-fill 1.0] [-dir /var/tmp]
//
// The images are read from local files (io.ReaderAt), not through a
// bucket: this measures the importer, not the S3 plane. It needs qemu-img.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/diskimage"
	"github.com/stowage/stowage/internal/nbd/nbdtest"
)

func main() {
	size := flag.Int64("size", 2<<30, "image size in bytes")
	fill := flag.Float64("fill", 1.0, "fraction of the image holding data")
	dir := flag.String("dir", "/var/tmp", "directory for the images and the pool")
	flag.Parse()
	if err := run(*size, *fill, *dir); err != nil {
		log.Fatal(err)
	}
}

func run(size int64, fill float64, dir string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	work, err := os.MkdirTemp(dir, "images-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	raw := filepath.Join(work, "disk.raw")
	f, err := os.Create(raw)
	if err != nil {
		return err
	}
	buf := make([]byte, 4<<20)
	data := int64(float64(size) * fill)
	for off := int64(0); off < data; off += int64(len(buf)) {
		b := buf[:min(int64(len(buf)), data-off)]
		rand.Read(b)
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
	}
	if err := f.Truncate(size); err != nil {
		return err
	}
	f.Close()
	qcow := filepath.Join(work, "disk.qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow).CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img convert: %v\n%s", err, out)
	}
	exec.Command("sync").Run()

	pool, err := blockstore.Open(ctx, filepath.Join(work, "pool"), blockstore.Options{})
	if err != nil {
		return err
	}
	defer pool.Close()
	base, stop, err := nbdtest.Serve(nbdtest.Resolver{Pool: pool})
	if err != nil {
		return err
	}
	defer stop()

	fmt.Printf("%d MiB image, %.0f%% random data\n", size>>20, 100*fill)
	fmt.Println("| image | diskimage.Import into a thin volume | qemu-img convert to raw (same disk) | ratio (convert time / import time) |")
	fmt.Println("|---|---|---|---|")
	for _, img := range []struct{ path, format string }{{raw, "raw"}, {qcow, "qcow2"}} {
		vol := img.format
		if err := pool.Create(ctx, vol, size); err != nil {
			return err
		}
		v, err := pool.Volume(ctx, vol)
		if err != nil {
			return err
		}
		src, err := os.Open(img.path)
		if err != nil {
			return err
		}
		st, _ := src.Stat()
		t0 := time.Now()
		if _, _, err := diskimage.Import(ctx, src, st.Size(), img.format, v); err != nil {
			return err
		}
		tImport := time.Since(t0)
		src.Close()
		out := filepath.Join(work, "out-"+img.format+".raw")
		t0 = time.Now()
		if b, err := exec.Command("qemu-img", "convert", "-f", img.format, "-O", "raw", img.path, out).CombinedOutput(); err != nil {
			return fmt.Errorf("qemu-img convert: %v\n%s", err, b)
		}
		if err := exec.Command("sync", out).Run(); err != nil {
			return err
		}
		tConvert := time.Since(t0)
		os.Remove(out)
		uri := base + vol
		if b, err := exec.Command("qemu-img", "compare", "-f", img.format, "-F", "raw", img.path, uri).CombinedOutput(); err != nil {
			return fmt.Errorf("imported %s differs: %v\n%s", img.format, err, b)
		}
		mibs := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }
		fmt.Printf("| %s | %v (%.0f MiB/s) | %v (%.0f MiB/s) | %.2f |\n", img.format, tImport.Round(time.Millisecond), mibs(tImport),
			tConvert.Round(time.Millisecond), mibs(tConvert), tConvert.Seconds()/tImport.Seconds())
	}
	return nil
}
