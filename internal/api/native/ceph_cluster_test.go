//go:build ceph

package native_test

import (
	"strings"
	"testing"

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
