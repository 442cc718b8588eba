package native_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

// TestRefusedTransitions checks that each operation the status machine or
// the rules forbid is refused with a clear problem and changes nothing.
func TestRefusedTransitions(t *testing.T) { testRefusedTransitions(t, thinPool) }

func testRefusedTransitions(t *testing.T, b backend) {
	e := b.start(t)
	c := client{t: t, e: e, auth: testenv.Bearer(e.AdminToken)}
	prj := c.project()
	other := newTenant(t, e, "other")
	vm1, vm2 := c.instance(prj, "vm-1"), c.instance(prj, "vm-2")
	foreignVM := c.instance(other.project, "foreign")

	v := c.createVolume(map[string]any{"project_id": prj, "name": "v", "size": 32 * mib})
	unchanged := func(status string, size int64, typ string) {
		t.Helper()
		got := c.wantVolumeStatus(v.ID, status)
		if got.Size != size || got.Type != typ {
			t.Fatalf("volume changed: %+v", got)
		}
	}

	p := wantProblem(t, c.do("POST", "/api/v1/volumes/"+v.ID+"/extend", map[string]any{"size": 16 * mib}), 400, "invalid")
	if p.Field != "size" {
		t.Fatalf("extend smaller: %+v", p)
	}
	wantProblem(t, c.do("POST", "/api/v1/volumes/"+v.ID+"/extend", map[string]any{"size": 32 * mib}), 400, "invalid")
	unchanged("available", 32*mib, "ssd")

	p = wantProblem(t, c.do("POST", "/api/v1/volumes/"+v.ID+"/attach", map[string]any{"instance_id": foreignVM}), 400, "invalid")
	if p.Field != "instance_id" {
		t.Fatalf("attach to another project's instance: %+v", p)
	}
	wantProblem(t, c.do("POST", "/api/v1/volumes/"+v.ID+"/detach", map[string]any{}), 409, "conflict")
	unchanged("available", 32*mib, "ssd")

	c.attach(v.ID, vm1)
	p = wantProblem(t, c.do("POST", "/api/v1/volumes/"+v.ID+"/attach", map[string]any{"instance_id": vm2}), 409, "conflict")
	t.Logf("second attach: %s", p.Detail)
	p = wantProblem(t, c.do("POST", "/api/v1/volumes/"+v.ID+"/retype", map[string]any{"type": "hdd"}), 409, "conflict")
	t.Logf("retype attached: %s", p.Detail)
	p = wantProblem(t, c.do("DELETE", "/api/v1/volumes/"+v.ID, nil), 409, "conflict")
	t.Logf("delete attached: %s", p.Detail)
	wantProblem(t, c.do("POST", "/api/v1/volumes/"+v.ID+"/revert", map[string]any{"snapshot_id": "nope"}), 400, "invalid")
	wantProblem(t, c.do("DELETE", "/api/v1/instances/"+vm1, nil), 409, "conflict")
	wantProblem(t, c.do("POST", "/api/v1/volumes/"+v.ID+"/retype", map[string]any{"type": "filesystem"}), 400, "invalid")
	wantProblem(t, c.do("PATCH", "/api/v1/volumes/"+v.ID, map[string]any{"size": 1}), 400, "invalid")
	unchanged("in_use", 32*mib, "ssd")
	if got := c.volume(v.ID); len(got.Attachments) != 1 || got.Attachments[0].InstanceID != vm1 {
		t.Fatalf("attachments %+v", got.Attachments)
	}

	// Force deletes an attached volume, revoking its export first.
	c.accepted("DELETE", "/api/v1/volumes/"+v.ID+"?force=true", nil)
	wantProblem(t, c.do("GET", "/api/v1/volumes/"+v.ID, nil), 404, "not_found")
	wantStatus(t, c.do("DELETE", "/api/v1/instances/"+vm1, nil), 204)

	// Multi-attach volumes take several instances; turning the flag off
	// needs them detached.
	m := c.createVolume(map[string]any{"project_id": prj, "name": "shared", "size": 8 * mib, "multiattach": true, "type": "hdd"})
	vm3 := c.instance(prj, "vm-3")
	a2 := c.attach(m.ID, vm2)
	a3 := c.attach(m.ID, vm3)
	if a2.ConnectionInfo.URI == a3.ConnectionInfo.URI {
		t.Fatal("two attachments share an export name")
	}
	mustQemuIO(t, a2.ConnectionInfo.URI, "write -P 0x42 0 64k")
	mustQemuIO(t, a3.ConnectionInfo.URI, "read -P 0x42 0 64k")
	wantProblem(t, c.do("PATCH", "/api/v1/volumes/"+m.ID, map[string]any{"multiattach": false}), 409, "conflict")
	wantProblem(t, c.do("POST", "/api/v1/volumes/"+m.ID+"/detach", map[string]any{}), 400, "invalid")
	c.accepted("POST", "/api/v1/volumes/"+m.ID+"/detach", map[string]any{"instance_id": vm2})
	c.wantVolumeStatus(m.ID, "in_use")
	if _, err := qemuIO(t, a2.ConnectionInfo.URI, "read 0 512"); err == nil {
		t.Fatal("detached export still served")
	}
	mustQemuIO(t, a3.ConnectionInfo.URI, "read -P 0x42 0 64k")

	// Filesystem volumes are served over NFS and have no snapshots or
	// clones (yet); both are refused up front.
	fs := c.createVolume(map[string]any{"project_id": prj, "name": "fs", "size": 8 * mib, "type": "filesystem"})
	c.wantVolumeStatus(fs.ID, "available")
	p = wantProblem(t, c.do("POST", "/api/v1/volumes/"+fs.ID+"/snapshots", map[string]any{"name": "s"}), 400, "invalid")
	t.Logf("snapshot filesystem: %s", p.Detail)
	p = wantProblem(t, c.do("POST", "/api/v1/volumes", map[string]any{"project_id": prj, "source_volume_id": fs.ID}), 400, "invalid")
	t.Logf("clone filesystem: %s", p.Detail)
	if a := c.accepted("POST", "/api/v1/volumes/"+fs.ID+"/attach", map[string]any{"instance_id": vm2}).Attachment; a.ConnectionInfo.Driver != "nfs" || !strings.HasPrefix(a.ConnectionInfo.URI, "nfs://"+e.Addrs.NFS+"/fs-") {
		t.Fatalf("filesystem attachment %+v", a.ConnectionInfo)
	}

	wantProblem(t, c.do("POST", "/api/v1/volumes", map[string]any{"project_id": prj, "size": 8 * mib, "type": "floppy"}), 400, "invalid")
	wantProblem(t, c.do("POST", "/api/v1/volumes", map[string]any{"project_id": prj, "size": 1000}), 400, "invalid")
	wantProblem(t, c.do("POST", "/api/v1/volumes", map[string]any{"project_id": prj, "size": 8 * mib, "zone": "mars-1a"}), 400, "invalid")
}

// TestVolumeTenantWall: another project's volumes, snapshots, instances and
// quotas are invisible on every route, and answer 404, not 403.
func TestVolumeTenantWall(t *testing.T) {
	e := testenv.Start(t)
	alice, bob := newTenant(t, e, "alice"), newTenant(t, e, "bob")
	a := client{t: t, e: e, auth: testenv.Bearer(alice.token)}
	b := client{t: t, e: e, auth: testenv.Bearer(bob.token)}
	bv := b.createVolume(map[string]any{"project_id": bob.project, "name": "secret", "size": 8 * mib})
	bvm := b.instance(bob.project, "bob-vm")
	bs := b.accepted("POST", "/api/v1/volumes/"+bv.ID+"/snapshots", map[string]any{}).Snapshot
	var exp attachmentOut
	r := b.do("POST", "/api/v1/snapshots/"+bs.ID+"/exports", nil)
	wantStatus(t, r, 201)
	r.JSON(t, &exp)
	av := a.createVolume(map[string]any{"project_id": alice.project, "name": "mine", "size": 8 * mib})
	avm := a.instance(alice.project, "alice-vm")

	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/volumes/" + bv.ID, nil},
		{"PATCH", "/api/v1/volumes/" + bv.ID, map[string]any{"name": "x"}},
		{"DELETE", "/api/v1/volumes/" + bv.ID + "?force=true", nil},
		{"POST", "/api/v1/volumes/" + bv.ID + "/extend", map[string]any{"size": 16 * mib}},
		{"POST", "/api/v1/volumes/" + bv.ID + "/retype", map[string]any{"type": "hdd"}},
		{"POST", "/api/v1/volumes/" + bv.ID + "/clone", map[string]any{}},
		{"POST", "/api/v1/volumes/" + bv.ID + "/snapshots", map[string]any{}},
		{"POST", "/api/v1/volumes/" + bv.ID + "/attach", map[string]any{"instance_id": avm}},
		{"POST", "/api/v1/volumes/" + bv.ID + "/detach", map[string]any{}},
		{"POST", "/api/v1/volumes/" + bv.ID + "/revert", map[string]any{"snapshot_id": bs.ID}},
		{"GET", "/api/v1/snapshots/" + bs.ID, nil},
		{"PATCH", "/api/v1/snapshots/" + bs.ID, map[string]any{"name": "x"}},
		{"DELETE", "/api/v1/snapshots/" + bs.ID, nil},
		{"POST", "/api/v1/snapshots/" + bs.ID + "/restore", map[string]any{}},
		{"GET", "/api/v1/snapshots/" + bs.ID + "/exports", nil},
		{"POST", "/api/v1/snapshots/" + bs.ID + "/exports", nil},
		{"DELETE", "/api/v1/snapshots/" + bs.ID + "/exports/" + exp.ID, nil},
		{"GET", "/api/v1/instances/" + bvm, nil},
		{"PATCH", "/api/v1/instances/" + bvm, map[string]any{"power_state": "stopped"}},
		{"DELETE", "/api/v1/instances/" + bvm, nil},
		{"GET", "/api/v1/projects/" + bob.project + "/quotas", nil},
		{"PUT", "/api/v1/projects/" + bob.project + "/quotas", map[string]any{"volumes": 0}},
	}
	for _, rt := range routes {
		wantProblem(t, a.do(rt.method, rt.path, rt.body), 404, "not_found")
	}
	// Using bob's things as inputs to alice's own requests does not work
	// either, and does not say whether they exist.
	wantProblem(t, a.do("POST", "/api/v1/volumes", map[string]any{"project_id": bob.project, "size": 8 * mib}), 400, "invalid")
	wantProblem(t, a.do("POST", "/api/v1/volumes", map[string]any{"project_id": alice.project, "source_volume_id": bv.ID}), 400, "invalid")
	wantProblem(t, a.do("POST", "/api/v1/volumes", map[string]any{"project_id": alice.project, "snapshot_id": bs.ID}), 400, "invalid")
	wantProblem(t, a.do("POST", "/api/v1/volumes/"+av.ID+"/attach", map[string]any{"instance_id": bvm}), 400, "invalid")
	wantProblem(t, a.do("POST", "/api/v1/instances", map[string]any{"project_id": bob.project, "name": "x"}), 400, "invalid")

	for _, path := range []string{"/api/v1/volumes", "/api/v1/snapshots", "/api/v1/instances", "/api/v1/events",
		"/api/v1/volumes?project=" + bob.project, "/api/v1/snapshots?volume=" + bv.ID} {
		var l listOf[struct {
			ID        string `json:"id"`
			ProjectID string `json:"project_id"`
		}]
		r := a.do("GET", path, nil)
		wantStatus(t, r, 200)
		r.JSON(t, &l)
		for _, it := range l.Items {
			if it.ProjectID != alice.project {
				t.Fatalf("%s shows %+v of another project", path, it)
			}
		}
	}
	// Bob's things are untouched.
	got := b.wantVolumeStatus(bv.ID, "available")
	if got.Name != "secret" || got.Size != 8*mib {
		t.Fatalf("bob's volume changed: %+v", got)
	}
	// Quotas are for staff to set, even on one's own project.
	wantProblem(t, a.do("PUT", "/api/v1/projects/"+alice.project+"/quotas", map[string]any{"volumes": 100}), 403, "permission_denied")
	wantStatus(t, a.do("GET", "/api/v1/projects/"+alice.project+"/quotas", nil), 200)
}

// TestQuotaRace: 20 concurrent creates against a quota of 10 volumes; the
// reservation in the intent transaction lets exactly 10 through.
func TestQuotaRace(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { quotaRace(t, testenv.Start(t)) })
	t.Run("postgres", func(t *testing.T) {
		dsn := testenv.FreshPostgres(t)
		quotaRace(t, testenv.Start(t, func(c *config.Config) { c.Database = dsn }))
	})
}

func quotaRace(t *testing.T, e *testenv.Env) {
	c := client{t: t, e: e, auth: testenv.Bearer(e.AdminToken)}
	prj := c.project()
	wantStatus(t, c.do("PUT", "/api/v1/projects/"+prj+"/quotas", map[string]any{"volumes": 10, "storage_bytes": 1 << 30}), 200)
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = e.Do("POST", "/api/v1/volumes", c.auth, map[string]any{"project_id": prj, "size": 8 * mib}).Status
		}()
	}
	wg.Wait()
	n := map[int]int{}
	for _, s := range codes {
		n[s]++
	}
	if n[202] != 10 || n[403] != 10 {
		t.Fatalf("status counts %v, want 10 accepted and 10 refused", n)
	}
	var q struct {
		Usage struct{ Volumes, StorageBytes int64 } `json:"usage"`
	}
	c.do("GET", "/api/v1/projects/"+prj+"/quotas", nil).JSON(t, &q)
	if q.Usage.Volumes != 10 {
		t.Fatalf("usage %+v", q.Usage)
	}
	// Storage bytes are a limit too: 10 × 8 MiB used, so 1 GiB − 80 MiB fit.
	wantProblem(t, c.do("POST", "/api/v1/volumes", map[string]any{"project_id": prj, "size": 1 << 30}), 403, "quota_exceeded")
	wantStatus(t, c.do("PUT", "/api/v1/projects/"+prj+"/quotas", map[string]any{"volumes": nil, "snapshots": 0}), 200)
	wantStatus(t, c.do("POST", "/api/v1/volumes", map[string]any{"project_id": prj, "size": 8 * mib}), 202)
}
