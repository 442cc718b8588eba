package native_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

// The tests in this file drive the block service over real HTTP and read
// and write volumes with real NBD clients from qemu-utils and libnbd-bin,
// which `make test` installs.

type connInfo struct {
	Driver string `json:"driver"`
	URI    string `json:"uri"`
}

type attachmentOut struct {
	ID             string   `json:"id"`
	InstanceID     string   `json:"instance_id"`
	State          string   `json:"state"`
	ConnectionInfo connInfo `json:"connection_info"`
}

type volumeOut struct {
	ID             string          `json:"id"`
	ProjectID      string          `json:"project_id"`
	Name           string          `json:"name"`
	Size           int64           `json:"size"`
	Type           string          `json:"type"`
	Status         string          `json:"status"`
	MultiAttach    bool            `json:"multiattach"`
	Tags           []string        `json:"tags"`
	Attachments    []attachmentOut `json:"attachments"`
	AllocatedBytes *int64          `json:"allocated_bytes"`
}

type snapshotOut struct {
	ID           string   `json:"id"`
	VolumeID     string   `json:"volume_id"`
	Status       string   `json:"status"`
	Size         int64    `json:"size"`
	Restorations []string `json:"restorations"`
}

type jobOut struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Error string `json:"error"`
}

type acceptedOut struct {
	Volume     *volumeOut     `json:"volume"`
	Snapshot   *snapshotOut   `json:"snapshot"`
	Attachment *attachmentOut `json:"attachment"`
	Job        jobOut         `json:"job"`
}

// client is one caller of the API.
type client struct {
	t    *testing.T
	e    *testenv.Env
	auth string
}

func (c client) do(method, path string, body any) testenv.Response {
	c.t.Helper()
	return c.e.Do(method, path, c.auth, body)
}

// accepted sends a request that must answer 202 and waits for its job.
func (c client) accepted(method, path string, body any) acceptedOut {
	c.t.Helper()
	r := c.do(method, path, body)
	wantStatus(c.t, r, 202)
	var a acceptedOut
	r.JSON(c.t, &a)
	c.waitJob(a.Job.ID)
	return a
}

func (c client) waitJob(id string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var j jobOut
		r := c.do("GET", "/api/v1/jobs/"+id, nil)
		wantStatus(c.t, r, 200)
		r.JSON(c.t, &j)
		switch j.State {
		case "succeeded":
			return
		case "failed", "cancelled":
			c.t.Fatalf("job %s %s: %s", id, j.State, j.Error)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job %s still %s", id, j.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c client) volume(id string) volumeOut {
	c.t.Helper()
	var v volumeOut
	r := c.do("GET", "/api/v1/volumes/"+id, nil)
	wantStatus(c.t, r, 200)
	r.JSON(c.t, &v)
	return v
}

func (c client) wantVolumeStatus(id, status string) volumeOut {
	c.t.Helper()
	v := c.volume(id)
	if v.Status != status {
		c.t.Fatalf("volume %s is %s, want %s", id, v.Status, status)
	}
	return v
}

func (c client) createVolume(body map[string]any) volumeOut {
	c.t.Helper()
	a := c.accepted("POST", "/api/v1/volumes", body)
	return c.wantVolumeStatus(a.Volume.ID, "available")
}

func (c client) instance(project, name string) string {
	c.t.Helper()
	var in struct{ ID string }
	r := c.do("POST", "/api/v1/instances", map[string]any{"project_id": project, "name": name})
	wantStatus(c.t, r, 201)
	r.JSON(c.t, &in)
	return in.ID
}

func (c client) attach(volID, instID string) attachmentOut {
	c.t.Helper()
	a := c.accepted("POST", "/api/v1/volumes/"+volID+"/attach", map[string]any{"instance_id": instID})
	c.wantVolumeStatus(volID, "in_use")
	if a.Attachment.ConnectionInfo.Driver != "nbd" || !strings.HasPrefix(a.Attachment.ConnectionInfo.URI, "nbd://"+c.e.Addrs.NBD+"/") {
		c.t.Fatalf("connection_info %+v, NBD listener at %s", a.Attachment.ConnectionInfo, c.e.Addrs.NBD)
	}
	return *a.Attachment
}

func (c client) project() string {
	c.t.Helper()
	var ps listOf[project]
	c.do("GET", "/api/v1/projects", nil).JSON(c.t, &ps)
	if len(ps.Items) == 0 {
		c.t.Fatal("no project")
	}
	return ps.Items[0].ID
}

func qemuIO(t *testing.T, uri string, cmds ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("qemu-io"); err != nil {
		t.Fatalf("qemu-io is not installed (apt-get install qemu-utils): %v", err)
	}
	args := []string{"-f", "raw"}
	for _, c := range cmds {
		if strings.HasPrefix(c, "-") { // a flag such as -r (read-only)
			args = append(args, c)
			continue
		}
		args = append(args, "-c", c)
	}
	out, err := exec.Command("qemu-io", append(args, uri)...).CombinedOutput()
	return string(out), err
}

func mustQemuIO(t *testing.T, uri string, cmds ...string) string {
	t.Helper()
	out, err := qemuIO(t, uri, cmds...)
	if err != nil || strings.Contains(out, "failed") || strings.Contains(out, "error") {
		t.Fatalf("qemu-io %v on %s: %v\n%s", cmds, uri, err, out)
	}
	return out
}

const mib = 1 << 20

// TestVolumeFullLife walks one volume through its whole life with a real
// hypervisor-side client on the NBD URI the API hands out.
func TestVolumeFullLife(t *testing.T) { testVolumeFullLife(t, thinPool) }

func testVolumeFullLife(t *testing.T, b backend) {
	// Snapshots' exclusive bytes are measured periodically; an hour keeps
	// the usage this test checks to provisioned sizes.
	e := b.start(t, func(c *config.Config) { c.RetentionInterval = time.Hour })
	c := client{t: t, e: e, auth: testenv.Bearer(e.AdminToken)}
	prj := c.project()
	inst := c.instance(prj, "vm-1")

	v := c.createVolume(map[string]any{"project_id": prj, "name": "data", "size": 64 * mib, "type": "dssd", "tags": []string{"db"}})
	if v.Type != "ssd" || v.Size != 64*mib || *v.AllocatedBytes != 0 {
		t.Fatalf("created %+v", v)
	}
	att := c.attach(v.ID, inst)
	uri := att.ConnectionInfo.URI
	mustQemuIO(t, uri, "write -P 0xab 0 1M", "write -P 0xcd 60M 4M", "flush")
	mustQemuIO(t, uri, "read -P 0xab 0 1M", "read -P 0xcd 60M 4M")
	if got, want := *c.volume(v.ID).AllocatedBytes, b.allocated([2]int64{0, mib}, [2]int64{60 * mib, 4 * mib}); got != want {
		t.Fatalf("allocated %d bytes after writing 5 MiB, want %d", got, want)
	}

	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/detach", map[string]any{"instance_id": inst})
	v = c.wantVolumeStatus(v.ID, "available")
	if len(v.Attachments) != 0 {
		t.Fatalf("attachments after detach: %+v", v.Attachments)
	}
	if out, err := qemuIO(t, uri, "read 0 512"); err == nil {
		t.Fatalf("export still served after detach:\n%s", out)
	}

	snap := c.accepted("POST", "/api/v1/volumes/"+v.ID+"/snapshots", map[string]any{"name": "s1"}).Snapshot
	var sn snapshotOut
	c.do("GET", "/api/v1/snapshots/"+snap.ID, nil).JSON(t, &sn)
	if sn.Status != "available" || sn.Size != 64*mib {
		t.Fatalf("snapshot %+v", sn)
	}
	// Writes after the snapshot must not show in the clone.
	att = c.attach(v.ID, inst)
	mustQemuIO(t, att.ConnectionInfo.URI, "write -P 0x11 0 1M")
	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/detach", map[string]any{})

	clone := c.accepted("POST", "/api/v1/snapshots/"+snap.ID+"/restore", map[string]any{"name": "restored"}).Volume
	cv := c.wantVolumeStatus(clone.ID, "available")
	if cv.Size != 64*mib || cv.Type != "ssd" {
		t.Fatalf("clone %+v", cv)
	}
	c.do("GET", "/api/v1/snapshots/"+snap.ID, nil).JSON(t, &sn)
	if len(sn.Restorations) != 1 || sn.Restorations[0] != clone.ID {
		t.Fatalf("restorations %v, want [%s]", sn.Restorations, clone.ID)
	}
	catt := c.attach(clone.ID, inst)
	mustQemuIO(t, catt.ConnectionInfo.URI, "read -P 0xab 0 1M", "read -P 0xcd 60M 4M")

	// Extend while attached. NBD cannot tell a connected client that the
	// size changed (the size is part of the handshake), so a client that
	// stays connected keeps the size it negotiated and keeps working; a
	// new connection (a client reconnecting) sees the new size and zeros.
	qs := startQemuSession(t, catt.ConnectionInfo.URI)
	qs.do("length", "64 MiB")
	c.accepted("POST", "/api/v1/volumes/"+clone.ID+"/extend", map[string]any{"size": 128 * mib})
	cv = c.wantVolumeStatus(clone.ID, "in_use")
	if cv.Size != 128*mib {
		t.Fatalf("size after extend %d", cv.Size)
	}
	qs.do("length", "64 MiB")
	qs.do("write -P 0xef 63M 1M", "wrote 1048576/1048576 bytes at offset 66060288")
	mustQemuIO(t, catt.ConnectionInfo.URI, "read -P 0xcd 60M 3M", "read -P 0xef 63M 1M", "read -P 0 64M 64M")
	mustQemuIO(t, catt.ConnectionInfo.URI, "write -P 0xef 127M 1M")
	qs.do("read -P 0xef 63M 1M", "read 1048576/1048576 bytes at offset 66060288")
	qs.send("quit")

	c.accepted("POST", "/api/v1/volumes/"+clone.ID+"/detach", map[string]any{"instance_id": inst})
	r := c.do("POST", "/api/v1/volumes/"+clone.ID+"/retype", map[string]any{"type": "zadara"})
	wantStatus(t, r, 200)
	cv = c.wantVolumeStatus(clone.ID, "available")
	if cv.Type != "hdd" {
		t.Fatalf("type after retype %s", cv.Type)
	}
	catt = c.attach(clone.ID, inst)
	mustQemuIO(t, catt.ConnectionInfo.URI, "read -P 0xab 0 1M", "read -P 0 64M 63M", "read -P 0xef 127M 1M")
	c.accepted("POST", "/api/v1/volumes/"+clone.ID+"/detach", map[string]any{})

	var q struct {
		Usage struct {
			StorageBytes int64 `json:"storage_bytes"`
			Volumes      int64 `json:"volumes"`
			Snapshots    int64 `json:"snapshots"`
		} `json:"usage"`
	}
	c.do("GET", "/api/v1/projects/"+prj+"/quotas", nil).JSON(t, &q)
	if q.Usage.StorageBytes != 192*mib || q.Usage.Volumes != 2 || q.Usage.Snapshots != 1 {
		t.Fatalf("usage %+v, want 192 MiB in 2 volumes and 1 snapshot", q.Usage)
	}

	c.accepted("DELETE", "/api/v1/snapshots/"+snap.ID, nil)
	c.accepted("DELETE", "/api/v1/volumes/"+clone.ID, nil)
	c.accepted("DELETE", "/api/v1/volumes/"+v.ID, nil)
	wantProblem(t, c.do("GET", "/api/v1/volumes/"+v.ID, nil), 404, "not_found")
	c.do("GET", "/api/v1/projects/"+prj+"/quotas", nil).JSON(t, &q)
	if q.Usage.StorageBytes != 0 || q.Usage.Volumes != 0 || q.Usage.Snapshots != 0 {
		t.Fatalf("usage after deleting everything %+v", q.Usage)
	}
	var evs listOf[struct{ Action, ResourceID string }]
	c.do("GET", "/api/v1/events?resource_id="+v.ID, nil).JSON(t, &evs)
	var actions []string
	for _, ev := range evs.Items {
		actions = append(actions, ev.Action)
	}
	if got := strings.Join(actions, ","); got != "volume.create,volume.attach,volume.detach,volume.attach,volume.detach,volume.delete" {
		t.Fatalf("events of volume: %s", got)
	}
}
