package native_test

import (
	"os"
	"testing"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

type nodeOut struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	APIAddress string `json:"api_address"`
	S3Address  string `json:"s3_address"`
	NBDAddress string `json:"nbd_address"`
	NFSAddress string `json:"nfs_address"`
	Healthy    bool   `json:"healthy"`
	Self       bool   `json:"self"`
}

// TestNodeRegistry: a lone node lists itself with its bound addresses; on
// PostgreSQL a second node joins with advertised addresses, which both
// the registry and its attachments' connection_info name, and leaves the
// registry when it shuts down cleanly.
func TestNodeRegistry(t *testing.T) {
	e := testenv.Start(t)
	var l listOf[nodeOut]
	e.Do("GET", "/api/v1/nodes", testenv.Bearer(e.AdminToken), nil).JSON(t, &l)
	if len(l.Items) != 1 || !l.Items[0].Self || !l.Items[0].Healthy || l.Items[0].APIAddress != e.Addrs.API ||
		l.Items[0].NBDAddress != e.Addrs.NBD || l.Items[0].S3Address != e.Addrs.S3 || l.Items[0].NFSAddress != e.Addrs.NFS {
		t.Fatalf("a lone node lists %+v; it listens on %+v", l.Items, e.Addrs)
	}
	if os.Getenv("TEST_PG_DSN") == "" {
		return
	}
	a := testenv.Start(t, testenv.Postgres(t))
	b := testenv.Join(t, a, func(c *config.Config) {
		c.NodeName, c.AdvertiseNBD, c.AdvertiseAPI = "node-b", "nbd-b.example:10809", "api-b.example:443"
	})
	a.Do("GET", "/api/v1/nodes", testenv.Bearer(a.AdminToken), nil).JSON(t, &l)
	byName := map[string]nodeOut{}
	for _, n := range l.Items {
		byName[n.Name] = n
	}
	nb, ok := byName["node-b"]
	if len(l.Items) != 2 || !ok || !nb.Healthy || nb.Self || nb.NBDAddress != "nbd-b.example:10809" || nb.APIAddress != "api-b.example:443" ||
		nb.S3Address != b.Addrs.S3 {
		t.Fatalf("node A lists %+v", l.Items)
	}
	// An attachment made through B names B's advertised NBD address.
	c := client{t: t, e: b, auth: testenv.Bearer(a.AdminToken)}
	prj := c.project()
	v := c.accepted("POST", "/api/v1/volumes", map[string]any{"project_id": prj, "name": "v", "size": 8 * mib})
	c.wantVolumeStatus(v.Volume.ID, "available")
	att := c.accepted("POST", "/api/v1/volumes/"+v.Volume.ID+"/attach", map[string]any{"instance_id": c.instance(prj, "vm")})
	if uri := att.Attachment.ConnectionInfo.URI; len(uri) < 27 || uri[:27] != "nbd://nbd-b.example:10809/a" {
		t.Errorf("connection_info through node B: %+v", att.Attachment.ConnectionInfo)
	}
	b.Stop()
	a.Do("GET", "/api/v1/nodes", testenv.Bearer(a.AdminToken), nil).JSON(t, &l)
	if len(l.Items) != 1 || !l.Items[0].Self {
		t.Fatalf("after node B shut down cleanly node A lists %+v", l.Items)
	}
}
