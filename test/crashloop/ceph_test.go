//go:build ceph

package crashloop

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	goceph "github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"

	"github.com/stowage/stowage/internal/objectstore"
	"github.com/stowage/stowage/internal/rados"
	"github.com/stowage/stowage/internal/store/sqlstore"
	"github.com/stowage/stowage/internal/testenv"
)

// TestCrashLoopCeph is the crash loop on the binary `make build-ceph`
// makes, with volumes on RBD and object bodies in RADOS, on PostgreSQL:
// the same workload, kills and checks (no acknowledged S3 write lost, no
// partial object visible, every durable NBD write present, fsck clean),
// 3 cycles by default. At the end the stopped node's blob intents, which
// the kills left, are swept by the sweeper the server runs
// (objectstore.Sweep), and then no RADOS object in the pool may be one
// that no object, version, part or manifest names: the store never lists
// the pool to find garbage, so only the test does, to count it.
//
// The node gets pools of its own, made (and removed at the end) as
// client.admin, so that the count sees only what this loop wrote.
func TestCrashLoopCeph(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary many times")
	}
	conf := testenv.CephConf(t)
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	rbdPool := "crashloop-volumes-" + hex.EncodeToString(suffix)
	objPool := "crashloop-objects-" + hex.EncodeToString(suffix)
	conn := adminConn(t, conf)
	for _, p := range []string{rbdPool, objPool} {
		if err := conn.MakePool(p); err != nil {
			t.Fatalf("make pool %s: %v", p, err)
		}
		t.Cleanup(func() { _ = conn.DeletePool(p) })
	}
	volumes := openPool(t, conn, rbdPool)
	if err := rbd.PoolInit(volumes, true); err != nil {
		t.Fatalf("rbd pool init: %v", err)
	}
	dsn := testenv.FreshPostgres(t)
	crashLoop(t, backend{
		name: "ceph",
		bin:  testenv.BuildCeph(t),
		args: []string{"--ceph", conf, "--ceph-user", "client.admin", "--rbd-pool", rbdPool, "--rados-pool", objPool,
			"--database", dsn},
		cycles: 3,
		finish: func(t *testing.T, _ string, vols, _ []item) string {
			images, err := rbd.GetImageNames(volumes)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vols {
				if !slices.Contains(images, v.ID) {
					t.Errorf("volume %s (%s) has no RBD image", v.ID, v.Status)
				}
			}
			return sweepAndCount(t, conf, dsn, openPool(t, conn, objPool), objPool)
		},
	})
}

// sweepAndCount runs the sweeper over what the kills left in the stopped
// node's metadata, checks that no intent or queued removal is left, and
// counts the RADOS objects of the pool that metadata does not name
// (leaked), which must be none.
func sweepAndCount(t *testing.T, conf, dsn string, pool *goceph.IOContext, poolName string) string {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bodies, err := rados.Open(ctx, rados.Options{Conf: conf, User: "client.admin", Pool: poolName, Intents: st})
	if err != nil {
		t.Fatal(err)
	}
	defer bodies.Close()
	intents, removals, err := st.BlobQueueCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing is in flight: every intent is stale.
	swept, err := objectstore.Sweep(ctx, st, bodies, time.Now())
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if left, queued, err := st.BlobQueueCounts(ctx); err != nil || left != 0 || queued != 0 {
		t.Errorf("after the sweep %d intents and %d removals are left (%v)", left, queued, err)
	}
	it, err := pool.Iter()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var names []string
	for it.Next() {
		names = append(names, it.Value())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	blobOf := func(name string) string { return strings.SplitN(name, ".", 2)[0] }
	var ids []string
	for _, n := range names {
		ids = append(ids, blobOf(n))
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	live, err := st.LiveBlobs(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	var leaked []string
	for _, n := range names {
		if !live[blobOf(n)] {
			leaked = append(leaked, n)
		}
	}
	if len(leaked) > 0 {
		t.Errorf("%d RADOS objects no metadata names: %v", len(leaked), leaked[:min(len(leaked), 20)])
	}
	return fmt.Sprintf("; RADOS: %d intents left by the kills, %d swept (%d RADOS objects), %d queued removals done (%d queued at the stop); "+
		"%d RADOS objects of %d live blobs in the pool, %d leaked", intents, swept.Intents, swept.Objects, swept.Removals, removals,
		len(names), len(live), len(leaked))
}

// adminConn connects to the test cluster as client.admin until the test
// ends.
func adminConn(t *testing.T, conf string) *goceph.Conn {
	t.Helper()
	conn, err := goceph.NewConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.ReadConfigFile(conf); err != nil {
		conn.Shutdown()
		t.Fatal(err)
	}
	if err := conn.Connect(); err != nil {
		conn.Shutdown()
		t.Fatal(err)
	}
	t.Cleanup(conn.Shutdown)
	return conn
}

// openPool opens a pool of conn until the test ends.
func openPool(t *testing.T, conn *goceph.Conn, name string) *goceph.IOContext {
	t.Helper()
	io, err := conn.OpenIOContext(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(io.Destroy)
	return io
}
