//go:build ceph

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"time"

	"github.com/stowage/stowage/internal/nbd"
	"github.com/stowage/stowage/internal/procstat"
	"github.com/stowage/stowage/internal/rbd"
)

// runRBD measures the NBD server on an RBD image against fio's rbd engine
// (librbd with no server in between, the ceiling) on the same image, and
// against qemu-nbd on it where qemu's rbd driver is installed, then
// snapshot and clone latency of a written image and the first write into
// a clone. conf is a ceph.conf whose keyring holds client.stowage's key
// (scripts/test-ceph.sh start prints one).
func runRBD(conf, sizeStr string, size, snapSize int64, runtime time.Duration, rounds int) error {
	const user, pool = "stowage", "stowage-volumes"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := rbd.Open(ctx, rbd.Options{Conf: conf, User: user, Pool: pool})
	if err != nil {
		return err
	}
	defer st.Close()
	b := make([]byte, 4)
	rand.Read(b)
	prefix := "bench-" + hex.EncodeToString(b) + "-"
	var made []string // removed at the end, newest first
	defer func() {
		for _, id := range slices.Backward(made) {
			if err := st.Delete(context.Background(), id); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}
	}()
	img := prefix + "fio"
	if err := st.Create(ctx, img, size); err != nil {
		return err
	}
	made = append(made, img)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := nbd.NewServer(resolver[*rbd.Volume]{st.Volume}, nbd.Options{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	ours := "nbd://" + ln.Addr().String() + "/" + img
	// fio's rbd engine finds the cluster through CEPH_CONF.
	os.Setenv("CEPH_CONF", conf)
	direct := []string{"--ioengine=rbd", "--clientname=" + user, "--pool=" + pool, "--rbdname=" + img}

	fmt.Printf("one RBD image of %s in pool %s; fio ioengine=nbd through Stowage vs ioengine=rbd (librbd direct) on the same image, %v per job, best of %d alternating rounds, %d CPUs\n",
		sizeStr, pool, runtime, rounds, cpus())
	var more []target
	qemu, stop, err := qemuNBD(ctx, conf, user, pool, img)
	if err != nil {
		fmt.Printf("no qemu-nbd column: %v\n", err)
	} else {
		defer stop()
		fmt.Printf("qemu-nbd: the same image through qemu-nbd's rbd driver, the stock NBD server on librbd\n")
		more = append(more, qemu)
	}
	fmt.Println()
	if err := compare(target{"stowage NBD", nbdEngine(ours), selfCPU, true}, target{"librbd direct", direct, nil, true}, jobs, sizeStr, runtime, rounds, more...); err != nil {
		return err
	}
	cancel()
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return rbdSnapLatency(st, prefix, snapSize, &made)
}

// qemuNBD serves img with qemu-nbd through qemu's rbd block driver (in
// Debian's qemu-block-extra), as a peer: the NBD server a provider would
// otherwise put in front of librbd. Its cache mode is librbd's default
// (rbd_cache on), like Stowage's and fio's handles.
func qemuNBD(ctx context.Context, conf, user, pool, img string) (target, func(), error) {
	if _, err := exec.LookPath("qemu-nbd"); err != nil {
		return target{}, nil, err
	}
	port, err := freePort()
	if err != nil {
		return target{}, nil, err
	}
	cmd := exec.CommandContext(ctx, "qemu-nbd", "-f", "raw", "-x", img, "-b", "127.0.0.1", "-p", strconv.Itoa(port),
		"-t", "-e", "8", "--cache=writeback", fmt.Sprintf("rbd:%s/%s:id=%s:conf=%s", pool, img, user, conf))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return target{}, nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() { cmd.Process.Kill(); <-exited }
	if err := waitPort(port); err != nil {
		stop()
		return target{}, nil, fmt.Errorf("qemu-nbd (is qemu-block-extra installed?): %s", bytes.TrimSpace(stderr.Bytes()))
	}
	cpu := func() time.Duration { return procstat.CPU(cmd.Process.Pid) }
	return target{"qemu-nbd", nbdEngine(fmt.Sprintf("nbd://127.0.0.1:%d/%s", port, img)), cpu, true}, stop, nil
}

// rbdSnapLatency writes a whole image, then times RBD snapshots and
// clones of it and the first 4k write into each clone (a copy-up of one
// 4 MiB object).
func rbdSnapLatency(st *rbd.Store, prefix string, size int64, made *[]string) error {
	ctx := context.Background()
	big := prefix + "big"
	if err := st.Create(ctx, big, size); err != nil {
		return err
	}
	*made = append(*made, big)
	v, err := st.Volume(ctx, big)
	if err != nil {
		return err
	}
	start := time.Now()
	buf, err := fill(ctx, v, size)
	if err == nil {
		err = v.Flush(ctx)
	}
	v.Close()
	if err != nil {
		return err
	}
	fmt.Printf("\nwrote a %d MiB image and flushed in %v\n", size>>20, time.Since(start).Round(time.Millisecond))
	snap, clone := func(i int) string { return fmt.Sprintf("%ssnap%d", prefix, i) }, func(i int) string { return fmt.Sprintf("%sclone%d", prefix, i) }
	var opened []*rbd.Volume
	defer func() {
		for _, h := range opened {
			h.Close()
		}
	}()
	snaps, clones, cow, err := timeCopies(5,
		func(i int) error {
			*made = append(*made, snap(i))
			return st.Snapshot(ctx, big, snap(i))
		},
		func(i int) error {
			*made = append(*made, clone(i))
			return st.Clone(ctx, snap(i), clone(i))
		},
		func(i int) (func() error, error) {
			h, err := st.Volume(ctx, clone(i))
			if err != nil {
				return nil, err
			}
			opened = append(opened, h)
			return func() error {
				if err := h.WriteAt(ctx, buf[:4096], (int64(i)<<24)%size); err != nil {
					return err
				}
				return h.Flush(ctx)
			}, nil
		})
	if err != nil {
		return err
	}
	fmt.Printf("snapshot of the written image: median %v, max %v\n", med(snaps), slices.Max(snaps))
	fmt.Printf("clone (v2) of that snapshot:   median %v, max %v\n", med(clones), slices.Max(clones))
	fmt.Printf("first 4k write + flush into a clone (copy-up of one 4 MiB object): median %v, max %v\n", med(cow), slices.Max(cow))
	return nil
}
