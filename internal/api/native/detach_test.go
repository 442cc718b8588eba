package native_test

import (
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

// TestDetachDisconnectsClients keeps one qemu-io session connected across a
// detach: its next request must fail, because detach revokes the export
// and cuts live connections, not only new ones.
func TestDetachDisconnectsClients(t *testing.T) { testDetachDisconnectsClients(t, thinPool) }

func testDetachDisconnectsClients(t *testing.T, b backend) {
	e := b.start(t)
	c := client{t: t, e: e, auth: testenv.Bearer(e.AdminToken)}
	prj := c.project()
	vm := c.instance(prj, "vm")
	v := c.createVolume(map[string]any{"project_id": prj, "name": "v", "size": 8 * mib})
	att := c.attach(v.ID, vm)

	q := startQemuSession(t, att.ConnectionInfo.URI)
	q.do("write -P 0x55 0 4k", "wrote 4096/4096 bytes")
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/detach", map[string]any{})
	l := q.do("read -P 0x55 0 4k", "failed")
	t.Logf("after detach qemu-io says: %s", l)
}
