package cloudsigma_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

const mib = 1 << 20

func qemuIO(t *testing.T, uri string, cmds ...string) string {
	t.Helper()
	if _, err := exec.LookPath("qemu-io"); err != nil {
		t.Fatalf("qemu-io is not installed (apt-get install qemu-utils): %v", err)
	}
	args := []string{"-f", "raw"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.Command("qemu-io", append(args, uri)...).CombinedOutput()
	if err != nil || strings.Contains(string(out), "failed") || strings.Contains(string(out), "error") {
		t.Fatalf("qemu-io %v on %s: %v\n%s", cmds, uri, err, out)
	}
	return string(out)
}

// nbdURI returns the URI of drive on server, once the attachment serves.
func nbdURI(t *testing.T, e *testenv.Env, auth, server, drive string) string {
	t.Helper()
	waitStatus(t, e, auth, drive, "mounted")
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, body := call(t, e, "GET", "servers/"+server+"/", auth, nil)
		mustStatus(t, st, body, 200)
		for _, d := range body.(obj)["drives"].([]any) {
			d := d.(obj)
			if d["drive"].(obj)["uuid"] == drive {
				uri := d["runtime"].(obj)["nbd_uri"].(string)
				if out, err := exec.Command("qemu-io", "-f", "raw", "-r", "-c", "read 0 512", uri).CombinedOutput(); err == nil && !strings.Contains(string(out), "failed") {
					return uri
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("drive %s never served on server %s: %v", drive, server, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDriveLifecycle: creating → unmounted; mounted through a server;
// resize refused on a running server (and PUT's size ignored) but
// accepted when stopped; a clone is cloning_dst with a job that reaches
// success, and holds the source's bytes; delete → 404.
func TestDriveLifecycle(t *testing.T) {
	e := testenv.Start(t)
	auth := admin(e)

	id := createDrive(t, e, auth, obj{"name": "boot", "media": "disk", "size": 64 * mib})
	waitStatus(t, e, auth, id, "unmounted")

	st, body := call(t, e, "POST", "servers/", auth, obj{"name": "vm1", "cpu": 1000, "mem": 512 * mib, "vnc_password": "x",
		"drives": []obj{{"boot_order": 1, "dev_channel": "0:0", "device": "virtio", "drive": id}}})
	mustStatus(t, st, body, 201)
	srv := objects(t, body)[0]
	sid := srv["uuid"].(string)
	if srv["status"] != "stopped" {
		t.Fatalf("new server: %v", srv)
	}
	uri := nbdURI(t, e, auth, sid, id)
	qemuIO(t, uri, "write -P 0xab 0 1M", "write -P 0xcd 60M 4M", "flush")
	d := waitStatus(t, e, auth, id, "mounted")
	if on := d["mounted_on"].([]any); len(on) != 1 || on[0].(obj)["uuid"] != sid {
		t.Fatalf("mounted_on %v", on)
	}

	// Running: resize fails, a PUT's size is ignored (but its name is not).
	st, body = call(t, e, "POST", "servers/"+sid+"/action/?do=start", auth, nil)
	mustStatus(t, st, body, 202)
	st, body = call(t, e, "POST", "servers/"+sid+"/action/?do=start", auth, nil)
	wantErr(t, st, body, 403, "permission", "")
	st, body = call(t, e, "POST", "drives/"+id+"/action/?do=resize", auth, obj{"name": "boot", "media": "disk", "size": 128 * mib})
	wantErr(t, st, body, 403, "permission", "")
	st, body = call(t, e, "PUT", "drives/"+id+"/", auth, obj{"name": "boot2", "media": "cdrom", "size": 128 * mib})
	mustStatus(t, st, body, 200)
	if d := body.(obj); d["size"] != float64(64*mib) || d["status"] != "mounted" || d["name"] != "boot2" || d["media"] != "disk" {
		t.Fatalf("PUT on a running server's drive: %v", d)
	}
	r := e.Do("DELETE", "/api/2.0/drives/"+id+"/", auth, nil)
	if r.Status != 403 {
		t.Fatalf("delete of a running server's drive: %d %s", r.Status, r.Body)
	}

	// Stopped: resize is accepted and the server keeps the drive.
	st, body = call(t, e, "POST", "servers/"+sid+"/action/?do=stop", auth, nil)
	mustStatus(t, st, body, 202)
	st, body = call(t, e, "POST", "drives/"+id+"/action/?do=resize", auth, obj{"name": "boot", "media": "disk", "size": 128 * mib})
	mustStatus(t, st, body, 202)
	if d := objects(t, body)[0]; d["status"] != "resizing" || d["size"] != float64(64*mib) {
		t.Fatalf("resize: %v", d)
	}
	if d := waitStatus(t, e, auth, id, "mounted"); d["size"] != float64(128*mib) || d["name"] != "boot" {
		t.Fatalf("after resize: %v", d)
	}

	// Clone the mounted drive: cloning_dst, one job on both drives that
	// reaches success, then unmounted with the source's bytes.
	st, body = call(t, e, "POST", "drives/"+id+"/action/?do=clone", auth, nil)
	mustStatus(t, st, body, 202)
	c := objects(t, body)[0]
	cid := c["uuid"].(string)
	jobs := c["jobs"].([]any)
	if c["status"] != "cloning_dst" || len(jobs) != 1 || c["name"] != "boot" || c["size"] != float64(128*mib) {
		t.Fatalf("clone: %v", c)
	}
	jid := jobs[0].(obj)["uuid"].(string)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, body = call(t, e, "GET", "jobs/"+jid+"/", auth, nil)
		mustStatus(t, st, body, 200)
		j := body.(obj)
		if j["operation"] != "drive_clone" || len(j["resources"].([]any)) != 2 || j["resources"].([]any)[0] != "/api/2.0/drives/"+id+"/" {
			t.Fatalf("job %v", j)
		}
		if j["state"] == "success" {
			if j["data"].(obj)["progress"] != 100.0 {
				t.Fatalf("finished job %v", j)
			}
			break
		}
		if j["state"] != "started" || time.Now().After(deadline) {
			t.Fatalf("job %v", j)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitStatus(t, e, auth, cid, "unmounted")
	src := waitStatus(t, e, auth, id, "mounted")
	if js := src["jobs"].([]any); len(js) != 1 || js[0].(obj)["uuid"] != jid {
		t.Fatalf("source jobs %v", js)
	}
	st, body = call(t, e, "GET", "jobs/?limit=0&state=success", auth, nil)
	if st != 200 || len(objects(t, body)) == 0 {
		t.Fatalf("jobs list: %v", body)
	}
	for _, j := range objects(t, body) {
		if j["state"] != "success" {
			t.Fatalf("state filter let through %v", j)
		}
	}
	// A job is marked done just after its drive changes status; give the
	// last one a moment.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, body = call(t, e, "GET", "jobs/?limit=0&state=started", auth, nil)
		if st == 200 && len(objects(t, body)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("started jobs after all finished: %v", body)
		}
	}

	// Writes to the source after the clone do not reach it; the clone has
	// the bytes of clone time.
	qemuIO(t, uri, "write -P 0x11 0 1M", "flush")
	st, body = call(t, e, "PUT", "servers/"+sid+"/", auth, obj{"drives": []obj{{"drive": obj{"uuid": id}}, {"drive": "/api/2.0/drives/" + cid + "/"}}})
	mustStatus(t, st, body, 200)
	curi := nbdURI(t, e, auth, sid, cid)
	qemuIO(t, curi, "read -P 0xab 0 1M", "read -P 0xcd 60M 4M", "read -P 0 64M 64M")

	// Unmount both; delete; gone.
	st, body = call(t, e, "PUT", "servers/"+sid+"/", auth, obj{"drives": []obj{}})
	mustStatus(t, st, body, 200)
	waitStatus(t, e, auth, id, "unmounted")
	waitStatus(t, e, auth, cid, "unmounted")
	// A running server cannot be deleted; a stopped one can, and its
	// drives stay, unmounted.
	st, body = call(t, e, "POST", "servers/"+sid+"/action/?do=start", auth, nil)
	mustStatus(t, st, body, 202)
	st, body = call(t, e, "DELETE", "servers/"+sid+"/", auth, nil)
	wantErr(t, st, body, 403, "permission", "")
	st, body = call(t, e, "POST", "servers/"+sid+"/action/?do=stop", auth, nil)
	mustStatus(t, st, body, 202)
	st, body = call(t, e, "POST", "servers/", auth, obj{"name": "vm2", "drives": []obj{{"drive": cid}}})
	mustStatus(t, st, body, 201)
	sid2 := objects(t, body)[0]["uuid"].(string)
	// A drive mounted elsewhere cannot be mounted again, and the refused
	// server is not left behind.
	st, body = call(t, e, "POST", "servers/", auth, obj{"name": "vm3", "drives": []obj{{"drive": cid}}})
	wantErr(t, st, body, 403, "permission", "drives")
	st, body = call(t, e, "GET", "servers/?limit=0", auth, nil)
	if n := body.(obj)["meta"].(obj)["total_count"]; n != 2.0 {
		t.Fatalf("servers after a refused create: %v", n)
	}
	if st, body := call(t, e, "DELETE", "servers/"+sid2+"/", auth, nil); st != 204 {
		t.Fatalf("delete server: %d %v", st, body)
	}
	st, body = call(t, e, "GET", "servers/"+sid2+"/", auth, nil)
	wantErr(t, st, body, 404, "notexist", "")

	waitStatus(t, e, auth, cid, "unmounted")
	for _, x := range []string{id, cid} {
		r := e.Do("DELETE", "/api/2.0/drives/"+x+"/", auth, nil)
		if r.Status != 204 {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		waitGone(t, e, auth, x)
	}
}
