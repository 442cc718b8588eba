//go:build ceph

package native_test

import (
	"bytes"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"github.com/stowage/stowage/internal/testenv"
)

// TestCephClusterExports runs two nodes on one PostgreSQL and one Ceph: a
// volume attached through node A (whose NBD address connection_info
// names) is served by node B under the same export name, with A's
// flushed writes in it; a detach answered by node A cuts node B's
// connected client too.
func TestCephClusterExports(t *testing.T) {
	a := testenv.Start(t, testenv.Postgres(t), testenv.Ceph(t))
	b := testenv.Join(t, a, testenv.Ceph(t))
	c := client{t: t, e: a, auth: testenv.Bearer(a.AdminToken)}
	prj := c.project()
	v := c.createVolume(map[string]any{"project_id": prj, "name": "shared", "size": 8 * mib})
	att := c.attach(v.ID, c.instance(prj, "vm"))
	onA := att.ConnectionInfo.URI
	onB := strings.Replace(onA, a.Addrs.NBD, b.Addrs.NBD, 1)
	mustQemuIO(t, onA, "write -P 0x5a 0 1M", "flush")
	mustQemuIO(t, onB, "read -P 0x5a 0 1M")

	q := startQemuSession(t, onB)
	q.do("read -P 0x5a 0 4k", "read 4096/4096 bytes")
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/detach", map[string]any{})
	l := q.do("read -P 0x5a 0 4k", "failed")
	t.Logf("node B's client after a detach on node A: %s", l)
}

// TestCephClusterNFSExports is TestCephClusterExports for a filesystem
// volume in CephFS: a file written with nfs-cp through node A (whose NFS
// address connection_info names) reads back byte-identical with nfs-cat
// through node B under the same export path, and a detach answered by
// node A cuts node B's clients at once, before B would have asked the
// database again (it trusts a resolved export for two seconds).
func TestCephClusterNFSExports(t *testing.T) {
	for _, tool := range []string{"nfs-cp", "nfs-cat", "nfs-ls"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing (make test-deps installs libnfs-utils): %v", tool, err)
		}
	}
	a := testenv.Start(t, testenv.Postgres(t), testenv.CephFS(t))
	b := testenv.Join(t, a, testenv.CephFS(t))
	c := client{t: t, e: a, auth: testenv.Bearer(a.AdminToken)}
	prj := c.project()
	v := c.createVolume(map[string]any{"project_id": prj, "name": "shared", "size": 8 * mib, "type": "filesystem"})
	att := c.accepted("POST", "/api/v1/volumes/"+v.ID+"/attach", map[string]any{"instance_id": c.instance(prj, "vm")}).Attachment
	onA := att.ConnectionInfo.URI
	if att.ConnectionInfo.Driver != "nfs" || !strings.HasPrefix(onA, "nfs://"+a.Addrs.NFS+"/") {
		t.Fatalf("connection_info %+v, node A's NFS listener at %s", att.ConnectionInfo, a.Addrs.NFS)
	}
	onB := strings.Replace(onA, a.Addrs.NFS, b.Addrs.NFS, 1)

	want := bytes.Repeat([]byte("written through node A\n"), 5000)
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, want, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nfs-cp", src, testenv.LibnfsURL(t, onA, "/f")).CombinedOutput(); err != nil {
		t.Fatalf("nfs-cp through node A: %v\n%s", err, out)
	}
	if got, err := exec.Command("nfs-cat", testenv.LibnfsURL(t, onB, "/f")).Output(); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("nfs-cat through node B: %v, %d of %d bytes", err, len(got), len(want))
	}

	// Node B has just resolved the export; the detach goes to node A.
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/detach", map[string]any{})
	if out, err := exec.Command("nfs-cat", testenv.LibnfsURL(t, onB, "/f")).CombinedOutput(); err == nil {
		t.Fatalf("nfs-cat through node B after a detach on node A succeeded (%d bytes)", len(out))
	}
	if out, err := exec.Command("nfs-ls", testenv.LibnfsURL(t, onB, "")).CombinedOutput(); err == nil {
		t.Fatalf("nfs-ls through node B after a detach on node A succeeded:\n%s", out)
	}
}

// TestCephClusterDetachWhileListenersDrop detaches while every node's
// invalidation listener is being cut again and again, so the revoke may
// reach node B while it is not listening: B must still cut its client,
// when it hears the revoke or, having missed it, when it listens again
// and rechecks the exports it serves.
func TestCephClusterDetachWhileListenersDrop(t *testing.T) {
	a := testenv.Start(t, testenv.Postgres(t), testenv.Ceph(t))
	b := testenv.Join(t, a, testenv.Ceph(t))
	c := client{t: t, e: a, auth: testenv.Bearer(a.AdminToken)}
	prj := c.project()
	v := c.createVolume(map[string]any{"project_id": prj, "name": "shared", "size": 8 * mib})
	att := c.attach(v.ID, c.instance(prj, "vm"))
	q := startQemuSession(t, strings.Replace(att.ConnectionInfo.URI, a.Addrs.NBD, b.Addrs.NBD, 1))
	q.do("write -P 0x33 0 4k", "wrote 4096/4096 bytes")

	db, err := sql.Open("pgx", a.Config.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stop := make(chan struct{})
	cut := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				cut <- n
				return
			default:
			}
			var k int
			_ = db.QueryRow(`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND application_name = 'stowage-invalidations'`).Scan(&k)
			n += k
			time.Sleep(5 * time.Millisecond)
		}
	}()
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/detach", map[string]any{})
	close(stop)
	t.Logf("cut %d listener sessions during the detach", <-cut)
	// B may have missed the notice while its session was down: then the
	// detach returned after waiting its bounded time for B, and B cuts the
	// client when its listener is back and re-checks the exports it
	// serves. So the client must be cut soon, not necessarily at once.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(q.do("read -P 0x33 0 4k", "read"), "failed") {
		if time.Now().After(deadline) {
			t.Fatal("node B still serves the export 15 s after it was detached through node A")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
