package native_test

import (
	"testing"
	"time"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

// TestSnapshotRevertExportRetention: revert puts a volume back to a
// snapshot; a snapshot export is read-only and revocable; kept_until makes
// the retention job delete the snapshot.
func TestSnapshotRevertExportRetention(t *testing.T) { testSnapshotRevertExportRetention(t, thinPool) }

func testSnapshotRevertExportRetention(t *testing.T, b backend) {
	e := b.start(t, func(c *config.Config) { c.RetentionInterval = 100 * time.Millisecond })
	c := client{t: t, e: e, auth: testenv.Bearer(e.AdminToken)}
	prj := c.project()
	vm := c.instance(prj, "vm")
	v := c.createVolume(map[string]any{"project_id": prj, "name": "v", "size": 16 * mib})
	att := c.attach(v.ID, vm)
	mustQemuIO(t, att.ConnectionInfo.URI, "write -P 0xab 0 2M")
	sn := c.accepted("POST", "/api/v1/volumes/"+v.ID+"/snapshots", map[string]any{"name": "before"}).Snapshot
	mustQemuIO(t, att.ConnectionInfo.URI, "write -P 0x11 0 1M", "write -P 0x22 8M 1M")

	// The overwritten megabyte now lives only in the snapshot: the periodic
	// measurement counts it in the snapshot and in the project's storage.
	var q struct {
		Usage struct {
			StorageBytes int64 `json:"storage_bytes"`
		} `json:"usage"`
	}
	excl := b.allocated([2]int64{0, mib})
	for deadline := time.Now().Add(10 * time.Second); ; {
		var s struct {
			ExclusiveBytes int64 `json:"exclusive_bytes"`
		}
		c.do("GET", "/api/v1/snapshots/"+sn.ID, nil).JSON(t, &s)
		c.do("GET", "/api/v1/projects/"+prj+"/quotas", nil).JSON(t, &q)
		if s.ExclusiveBytes == excl && q.Usage.StorageBytes == 16*mib+excl {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot exclusive %d bytes, storage usage %d; want %d and 16 MiB more", s.ExclusiveBytes, q.Usage.StorageBytes, excl)
		}
		time.Sleep(50 * time.Millisecond)
	}

	p := wantProblem(t, c.do("POST", "/api/v1/volumes/"+v.ID+"/revert", map[string]any{"snapshot_id": sn.ID}), 409, "conflict")
	t.Logf("revert attached: %s", p.Detail)
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/detach", map[string]any{})
	// Grow after the snapshot: the revert keeps the volume's size.
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/extend", map[string]any{"size": 32 * mib})
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/revert", map[string]any{"snapshot_id": sn.ID})
	if got := c.wantVolumeStatus(v.ID, "available"); got.Size != 32*mib {
		t.Fatalf("size after revert %d", got.Size)
	}
	att = c.attach(v.ID, vm)
	mustQemuIO(t, att.ConnectionInfo.URI, "read -P 0xab 0 2M", "read -P 0 8M 1M", "read -P 0 16M 16M")
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/detach", map[string]any{})
	var got snapshotOut
	c.do("GET", "/api/v1/snapshots/"+sn.ID, nil).JSON(t, &got)
	if len(got.Restorations) != 1 || got.Restorations[0] != v.ID {
		t.Fatalf("restorations %v", got.Restorations)
	}

	var exp attachmentOut
	r := c.do("POST", "/api/v1/snapshots/"+sn.ID+"/exports", nil)
	wantStatus(t, r, 201)
	r.JSON(t, &exp)
	mustQemuIO(t, exp.ConnectionInfo.URI, "-r", "read -P 0xab 0 2M")
	if out, err := qemuIO(t, exp.ConnectionInfo.URI, "write -P 0x99 0 4k"); err == nil && !failed(out) {
		t.Fatalf("write to a read-only snapshot export succeeded:\n%s", out)
	}
	wantStatus(t, c.do("DELETE", "/api/v1/snapshots/"+sn.ID+"/exports/"+exp.ID, nil), 204)
	if _, err := qemuIO(t, exp.ConnectionInfo.URI, "-r", "read 0 512"); err == nil {
		t.Fatal("revoked snapshot export still served")
	}

	// Retention: a snapshot whose kept_until passes is deleted by the
	// periodic job; clearing kept_until keeps another one.
	kept := c.accepted("POST", "/api/v1/volumes/"+v.ID+"/snapshots", map[string]any{"kept_until": time.Now().Add(time.Hour)}).Snapshot
	wantStatus(t, c.do("PATCH", "/api/v1/snapshots/"+kept.ID, map[string]any{"kept_until": nil}), 200)
	wantStatus(t, c.do("PATCH", "/api/v1/snapshots/"+sn.ID, map[string]any{"kept_until": time.Now().Add(300 * time.Millisecond)}), 200)
	deadline := time.Now().Add(10 * time.Second)
	for c.do("GET", "/api/v1/snapshots/"+sn.ID, nil).Status != 404 {
		if time.Now().After(deadline) {
			t.Fatal("expired snapshot was not deleted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantStatus(t, c.do("GET", "/api/v1/snapshots/"+kept.ID, nil), 200)
	var evs listOf[struct{ Action string }]
	c.do("GET", "/api/v1/events?resource_id="+sn.ID+"&action=snapshot.expire", nil).JSON(t, &evs)
	if len(evs.Items) != 1 {
		t.Fatalf("expire events %+v", evs.Items)
	}
	// The reverted volume's data survives its snapshot's deletion.
	att = c.attach(v.ID, vm)
	mustQemuIO(t, att.ConnectionInfo.URI, "read -P 0xab 0 2M")
}

func failed(out string) bool {
	for _, s := range []string{"failed", "error", "Error"} {
		if contains(out, s) {
			return true
		}
	}
	return false
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
