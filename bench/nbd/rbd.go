//go:build ceph

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	"github.com/stowage/stowage/internal/nbd"
	"github.com/stowage/stowage/internal/rbd"
)

// rbdResolver exports the images of an RBD pool by id.
type rbdResolver struct{ st *rbd.Store }

func (r rbdResolver) Resolve(ctx context.Context, name string) (nbd.Export, error) {
	v, err := r.st.Volume(ctx, name)
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (r rbdResolver) List(context.Context) ([]string, error) { return nil, nil }

// runRBD measures the NBD server on an RBD image against fio's rbd engine
// (librbd with no server in between, the ceiling) on the same image, then
// snapshot and clone latency of a written image and the first write into
// a clone. conf is a ceph.conf whose keyring holds client.stowage's key
// (scripts/test-ceph.sh start prints one).
func runRBD(conf, sizeStr string, runtime time.Duration, snapSizeStr string, rounds int) error {
	const user, pool = "stowage", "stowage-volumes"
	size, err := parseSize(sizeStr)
	if err != nil {
		return err
	}
	snapSize, err := parseSize(snapSizeStr)
	if err != nil {
		return err
	}
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
	srv := nbd.NewServer(rbdResolver{st}, nbd.Options{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	ours := "nbd://" + ln.Addr().String() + "/" + img
	// fio's rbd engine finds the cluster through CEPH_CONF.
	os.Setenv("CEPH_CONF", conf)
	direct := []string{"--ioengine=rbd", "--clientname=" + user, "--pool=" + pool, "--rbdname=" + img}

	fmt.Printf("one RBD image of %s in pool %s; fio ioengine=nbd through Stowage vs ioengine=rbd (librbd direct) on the same image, %v per job, best of %d alternating rounds, %d CPUs\n\n",
		sizeStr, pool, runtime, rounds, cpus())
	fmt.Printf("%-20s %22s %22s %7s\n", "job", "stowage NBD", "librbd direct", "ratio")
	if err := table([]string{"--ioengine=nbd", "--uri=" + ours}, direct, sizeStr, runtime, rounds); err != nil {
		return err
	}
	cancel()
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return rbdSnapLatency(st, prefix, snapSize, &made)
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
	var snaps, clones, cow []time.Duration
	for i := range 5 {
		s, c := fmt.Sprintf("%ssnap%d", prefix, i), fmt.Sprintf("%sclone%d", prefix, i)
		t0 := time.Now()
		if err := st.Snapshot(ctx, big, s); err != nil {
			return err
		}
		snaps = append(snaps, time.Since(t0))
		*made = append(*made, s)
		t0 = time.Now()
		if err := st.Clone(ctx, s, c); err != nil {
			return err
		}
		clones = append(clones, time.Since(t0))
		*made = append(*made, c)
		h, err := st.Volume(ctx, c)
		if err != nil {
			return err
		}
		t0 = time.Now()
		err = h.WriteAt(ctx, buf[:4096], (int64(i)<<24)%size)
		if err == nil {
			err = h.Flush(ctx)
		}
		cow = append(cow, time.Since(t0))
		h.Close()
		if err != nil {
			return err
		}
	}
	fmt.Printf("snapshot of the written image: median %v, max %v\n", med(snaps), slices.Max(snaps))
	fmt.Printf("clone (v2) of that snapshot:   median %v, max %v\n", med(clones), slices.Max(clones))
	fmt.Printf("first 4k write + flush into a clone (copy-up of one 4 MiB object): median %v, max %v\n", med(cow), slices.Max(cow))
	return nil
}
