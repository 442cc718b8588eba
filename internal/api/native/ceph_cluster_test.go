//go:build ceph

package native_test

import (
	"database/sql"
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
