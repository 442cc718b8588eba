//go:build ceph

package native_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

// rbdPool keeps volumes in the test cluster's RBD pool, whose images
// allocate whole 4 MiB objects.
var rbdPool = backend{opts: func(t *testing.T) []testenv.Option { return []testenv.Option{testenv.Ceph(t)} }, unit: 4 * mib, chunk: 4 * mib}

// The volume tests' bodies on RBD.
func TestCephVolumeFullLife(t *testing.T)           { testVolumeFullLife(t, rbdPool) }
func TestCephSnapshotRevertExport(t *testing.T)     { testSnapshotRevertExportRetention(t, rbdPool) }
func TestCephRefusedTransitions(t *testing.T)       { testRefusedTransitions(t, rbdPool) }
func TestCephDetachDisconnectsClients(t *testing.T) { testDetachDisconnectsClients(t, rbdPool) }
func TestCephImagesAndBackups(t *testing.T)         { testImagesAndBackups(t, rbdPool) }
func TestCephBackupPolicy(t *testing.T)             { testBackupPolicy(t, rbdPool) }
func TestCephRevertToBackup(t *testing.T)           { testRevertToBackup(t, rbdPool) }
func TestCephQoS(t *testing.T)                      { testQoS(t, rbdPool) }

// TestCephVolumeLife runs a server with --ceph and walks a volume through
// the native API with qemu-io on the NBD URIs it hands out: written data
// survives in a snapshot taken while attached, a restore and a clone of
// the volume read what they should, writes to them stay theirs, extend
// while attached shows zeros, and deleting in the order the service allows
// (volume, then snapshot, then clones) leaves no image behind.
func TestCephVolumeLife(t *testing.T) {
	e := testenv.Start(t, testenv.Ceph(t), func(c *config.Config) { c.RetentionInterval = time.Hour })
	c := client{t: t, e: e, auth: testenv.Bearer(e.AdminToken)}
	prj := c.project()
	inst := c.instance(prj, "vm-1")

	v := c.createVolume(map[string]any{"project_id": prj, "name": "data", "size": 16 * mib})
	if !slices.Contains(testenv.RBDImages(t), v.ID) {
		t.Fatalf("volume %s has no RBD image", v.ID)
	}
	att := c.attach(v.ID, inst)
	uri := att.ConnectionInfo.URI
	mustQemuIO(t, uri, "write -P 0xab 0 1M", "write -P 0xcd 12M 4M", "flush")
	mustQemuIO(t, uri, "read -P 0xab 0 1M", "read -P 0xcd 12M 4M")
	if got := *c.volume(v.ID).AllocatedBytes; got != 8*mib {
		t.Fatalf("allocated %d bytes, want the two 4 MiB RBD objects written", got)
	}

	// A snapshot while attached holds every write acknowledged before it.
	snap := c.accepted("POST", "/api/v1/volumes/"+v.ID+"/snapshots", map[string]any{"name": "s1"}).Snapshot
	mustQemuIO(t, uri, "write -P 0x11 0 1M")

	restored := c.accepted("POST", "/api/v1/snapshots/"+snap.ID+"/restore", map[string]any{"name": "restored"}).Volume
	c.wantVolumeStatus(restored.ID, "available")
	copied := c.createVolume(map[string]any{"project_id": prj, "name": "copy", "source_volume_id": v.ID})
	inst2 := c.instance(prj, "vm-2")
	ratt := c.attach(restored.ID, inst2)
	mustQemuIO(t, ratt.ConnectionInfo.URI, "read -P 0xab 0 1M", "read -P 0xcd 12M 4M", "write -P 0x22 0 64k")
	mustQemuIO(t, uri, "read -P 0x11 0 1M")
	inst3 := c.instance(prj, "vm-3")
	catt := c.attach(copied.ID, inst3)
	mustQemuIO(t, catt.ConnectionInfo.URI, "read -P 0x11 0 1M", "read -P 0xcd 12M 4M")

	// Extend while attached: a new connection sees the new size and zeros.
	c.accepted("POST", "/api/v1/volumes/"+restored.ID+"/extend", map[string]any{"size": 32 * mib})
	mustQemuIO(t, ratt.ConnectionInfo.URI, "read -P 0x22 0 64k", "read -P 0xcd 12M 4M", "read -P 0 16M 16M")

	for _, a := range []struct{ vol, inst string }{{v.ID, inst}, {restored.ID, inst2}, {copied.ID, inst3}} {
		c.accepted("POST", "/api/v1/volumes/"+a.vol+"/detach", map[string]any{"instance_id": a.inst})
	}
	c.accepted("DELETE", "/api/v1/volumes/"+v.ID, nil)
	ratt = c.attach(restored.ID, inst2)
	mustQemuIO(t, ratt.ConnectionInfo.URI, "read -P 0x22 0 64k", "read -P 0xab 64k 960k")
	c.accepted("POST", "/api/v1/volumes/"+restored.ID+"/detach", map[string]any{"instance_id": inst2})
	c.accepted("DELETE", "/api/v1/snapshots/"+snap.ID, nil)
	c.accepted("DELETE", "/api/v1/volumes/"+restored.ID, nil)
	c.accepted("DELETE", "/api/v1/volumes/"+copied.ID, nil)
	for _, name := range testenv.RBDImages(t) {
		if name == v.ID || name == restored.ID || name == copied.ID {
			t.Fatalf("image %s left after its volume was deleted", name)
		}
	}
}

// TestCephRevertAndSnapshotExport: on RBD, revert (a clone of the
// snapshot swapped in for the volume's image) keeps the grown size and
// reads the snapshot's bytes; a snapshot export is read-only; the
// reverted volume outlives its snapshot, and deleting it leaves none of
// its images behind.
func TestCephRevertAndSnapshotExport(t *testing.T) {
	e := testenv.Start(t, testenv.Ceph(t), func(c *config.Config) { c.RetentionInterval = time.Hour })
	c := client{t: t, e: e, auth: testenv.Bearer(e.AdminToken)}
	prj := c.project()
	vm := c.instance(prj, "vm")
	v := c.createVolume(map[string]any{"project_id": prj, "name": "v", "size": 16 * mib})
	att := c.attach(v.ID, vm)
	mustQemuIO(t, att.ConnectionInfo.URI, "write -P 0xab 0 2M")
	sn := c.accepted("POST", "/api/v1/volumes/"+v.ID+"/snapshots", map[string]any{"name": "before"}).Snapshot
	mustQemuIO(t, att.ConnectionInfo.URI, "write -P 0x11 0 1M", "write -P 0x22 8M 1M")
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/detach", map[string]any{})
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/extend", map[string]any{"size": 32 * mib})
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/revert", map[string]any{"snapshot_id": sn.ID})
	if got := c.wantVolumeStatus(v.ID, "available"); got.Size != 32*mib {
		t.Fatalf("size after revert %d", got.Size)
	}
	att = c.attach(v.ID, vm)
	mustQemuIO(t, att.ConnectionInfo.URI, "read -P 0xab 0 2M", "read -P 0 8M 1M", "read -P 0 16M 16M", "write -P 0x33 1M 4k")

	var exp attachmentOut
	r := c.do("POST", "/api/v1/snapshots/"+sn.ID+"/exports", nil)
	wantStatus(t, r, 201)
	r.JSON(t, &exp)
	mustQemuIO(t, exp.ConnectionInfo.URI, "-r", "read -P 0xab 0 2M")
	if out, err := qemuIO(t, exp.ConnectionInfo.URI, "write -P 0x99 0 4k"); err == nil && !failed(out) {
		t.Fatalf("write to a read-only snapshot export succeeded:\n%s", out)
	}
	wantStatus(t, c.do("DELETE", "/api/v1/snapshots/"+sn.ID+"/exports/"+exp.ID, nil), 204)

	c.accepted("DELETE", "/api/v1/snapshots/"+sn.ID, nil)
	mustQemuIO(t, att.ConnectionInfo.URI, "read -P 0xab 0 1M", "read -P 0x33 1M 4k")
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/detach", map[string]any{})
	c.accepted("DELETE", "/api/v1/volumes/"+v.ID, nil)
	for _, name := range testenv.RBDImages(t) {
		if strings.HasPrefix(name, v.ID) {
			t.Fatalf("image %s left after its volume was deleted", name)
		}
	}
}

// TestCephAdminPools: with --ceph, the operator's block pool is the RBD
// pool: its object size, its images and snapshots, and the bytes written
// to them as RBD accounts them; fsck finds nothing wrong.
func TestCephAdminPools(t *testing.T) {
	e := testenv.Start(t, testenv.Ceph(t), func(c *config.Config) { c.RetentionInterval = time.Hour })
	c := client{t: t, e: e, auth: testenv.Bearer(e.AdminToken)}
	prj := c.project()
	vm := c.instance(prj, "vm")
	pools := func() map[string]int64 {
		var p struct {
			Block map[string]int64 `json:"block"`
		}
		r := c.do("GET", "/api/v1/admin/pools", nil)
		wantStatus(t, r, 200)
		r.JSON(t, &p)
		return p.Block
	}
	before := pools()
	if before["chunk_size"] != 4*mib {
		t.Fatalf("block pool %+v, want RBD's 4 MiB objects", before)
	}
	v := c.createVolume(map[string]any{"project_id": prj, "name": "v", "size": 16 * mib})
	att := c.attach(v.ID, vm)
	mustQemuIO(t, att.ConnectionInfo.URI, "write -P 0xab 0 8M")
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/snapshots", map[string]any{"name": "s"})
	mustQemuIO(t, att.ConnectionInfo.URI, "write -P 0x11 0 1M")
	after := pools()
	// The cluster's capacity and free space come from its mgr (make
	// test-ceph starts one), which reports some seconds after it starts.
	for deadline := time.Now().Add(90 * time.Second); after["capacity_bytes"] <= 0 || after["free_bytes"] <= 0; after = pools() {
		if time.Now().After(deadline) {
			t.Fatalf("block pool %+v: no capacity or free space; a cluster without a mgr cannot say (STOWAGE_TEST_CEPH_MGR=1 scripts/test-ceph.sh start)", after)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if after["free_bytes"] > after["capacity_bytes"] {
		t.Errorf("block pool %+v: more free than capacity", after)
	}
	// Other tests share the cluster: compare with what this one added.
	if got := after["volumes"] - before["volumes"]; got < 2 {
		t.Errorf("volumes and snapshots grew by %d, want at least 2", got)
	}
	if got := after["used_bytes"] - before["used_bytes"]; got < 12*mib {
		t.Errorf("used bytes grew by %d, want the 8 MiB written plus the 4 MiB object overwritten since the snapshot", got)
	}
	var fsck struct {
		Clean    bool     `json:"clean"`
		Problems []string `json:"problems"`
	}
	r := c.do("POST", "/api/v1/admin/pools/block/fsck", nil)
	wantStatus(t, r, 200)
	r.JSON(t, &fsck)
	if !fsck.Clean {
		t.Errorf("fsck: %s", r.Body)
	}
}

// TestCephDeepCloneChainIsFlattened copies a volume from its copy, and so
// on, past the depth RBD reads through cheaply (4 parents): each copy's
// job queues a volume.flatten job, which cuts the copy that would read
// through more than 4 parents from the chain, so no image's chain grows
// past 4; the last copy keeps every layer's bytes and outlives its
// deleted ancestors.
func TestCephDeepCloneChainIsFlattened(t *testing.T) {
	e := testenv.Start(t, testenv.Ceph(t), func(c *config.Config) { c.RetentionInterval = time.Hour })
	c := client{t: t, e: e, auth: testenv.Bearer(e.AdminToken)}
	prj := c.project()
	vm := c.instance(prj, "vm")
	chain := []string{c.createVolume(map[string]any{"project_id": prj, "name": "v0", "size": 8 * mib}).ID}
	for i := 1; i <= 6; i++ {
		att := c.attach(chain[i-1], vm)
		mustQemuIO(t, att.ConnectionInfo.URI, fmt.Sprintf("write -P %d %dM 64k", i, i))
		c.accepted("POST", "/api/v1/volumes/"+chain[i-1]+"/detach", map[string]any{})
		c.wantVolumeStatus(chain[i-1], "available")
		chain = append(chain, c.createVolume(map[string]any{"project_id": prj, "name": fmt.Sprint("v", i), "source_volume_id": chain[i-1]}).ID)
	}
	last := chain[len(chain)-1]
	att := c.attach(last, vm)
	depth := func(id string) (n int) {
		for p := testenv.RBDParent(t, id); p != ""; p = testenv.RBDParent(t, p) {
			n++
		}
		return n
	}
	// v4 reads through v3..v0: its flatten job cuts it loose.
	for deadline := time.Now().Add(30 * time.Second); testenv.RBDParent(t, chain[4]) != ""; {
		if time.Now().After(deadline) {
			t.Fatalf("the 4th copy still reads through %d parents after its copy jobs; jobs: %s", depth(chain[4]),
				c.do("GET", "/api/v1/jobs?kind=volume.flatten", nil).Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, id := range chain {
		if d := depth(id); d > 4 {
			t.Errorf("copy %d reads through %d parents", i, d)
		}
	}
	var js listOf[struct{ ResourceID, State string }]
	c.do("GET", "/api/v1/jobs?kind=volume.flatten&resource_id="+last, nil).JSON(t, &js)
	if len(js.Items) == 0 {
		t.Fatalf("no volume.flatten job for %s", last)
	}
	gone := func(ids []string) {
		t.Helper()
		for _, id := range ids {
			for deadline := time.Now().Add(30 * time.Second); c.do("GET", "/api/v1/volumes/"+id, nil).Status != 404; {
				if time.Now().After(deadline) {
					t.Fatalf("volume %s not deleted", id)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	for _, id := range chain[:len(chain)-1] {
		c.accepted("DELETE", "/api/v1/volumes/"+id, nil)
	}
	gone(chain[:len(chain)-1])
	var reads []string
	for i := 1; i <= 6; i++ {
		reads = append(reads, fmt.Sprintf("read -P %d %dM 64k", i, i))
	}
	mustQemuIO(t, att.ConnectionInfo.URI, reads...)
	// The copies before the flattened one are needed by no one; the last
	// copy still reads through the two after it (kept in the RBD trash).
	images := testenv.RBDImages(t)
	for _, id := range chain[:4] {
		if slices.Contains(images, id) {
			t.Errorf("image %s of a deleted volume left", id)
		}
	}
	c.accepted("POST", "/api/v1/volumes/"+last+"/detach", map[string]any{})
	c.accepted("DELETE", "/api/v1/volumes/"+last, nil)
	gone([]string{last})
	images = testenv.RBDImages(t)
	for _, id := range chain {
		if slices.Contains(images, id) {
			t.Errorf("image %s left after the last copy went", id)
		}
	}
}
