package cloudsigma_test

import (
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

// mountOn makes a stopped server holding drive and returns the drive's NBD
// URI once it serves.
func mountOn(t *testing.T, e *testenv.Env, auth, drive string) string {
	t.Helper()
	st, body := call(t, e, "POST", "servers/", auth, obj{"name": "vm", "cpu": 1000, "mem": 512 * mib, "vnc_password": "x",
		"drives": []obj{{"boot_order": 1, "dev_channel": "0:0", "device": "virtio", "drive": drive}}})
	mustStatus(t, st, body, 201)
	return nbdURI(t, e, auth, objects(t, body)[0]["uuid"].(string), drive)
}

func waitLibdrive(t *testing.T, e *testenv.Env, auth, id, want string) obj {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, body := call(t, e, "GET", "libdrives/"+id+"/", auth, nil)
		if st == 200 && body.(obj)["status"] == want {
			return body.(obj)
		}
		if time.Now().After(deadline) {
			t.Fatalf("library drive %s: %d %v, want %s", id, st, body, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLibraryDrives: staff publish a drive as a library drive; a tenant
// lists it (with owner null), reads it through /drives/ too, and clones it
// into a drive of their own account that holds the image's bytes; a tenant
// cannot publish or unpublish; the operator's later writes to the source
// drive reach neither the image nor the clone.
func TestLibraryDrives(t *testing.T) { onBothEngines(t, libraryDrives) }

func libraryDrives(t *testing.T, e *testenv.Env) {
	staff := admin(e)
	tenant := newTenant(t, e, "libuser")

	src := createDrive(t, e, staff, obj{"name": "ubuntu-src", "media": "disk", "size": 64 * mib})
	waitStatus(t, e, staff, src, "unmounted")
	uri := mountOn(t, e, staff, src)
	qemuIO(t, uri, "write -P 0x5a 0 1M", "write -P 0x6b 63M 1M", "flush")

	st, body := call(t, e, "POST", "libdrives/", staff, obj{"drive": src, "name": "Ubuntu 24.04 Server", "os": "linux",
		"distribution": "Ubuntu", "version": "24.04", "category": []string{"general", "webserver"}, "description": "Pre-installed"})
	mustStatus(t, st, body, 201)
	lib := objects(t, body)[0]
	lid := lib["uuid"].(string)
	if lib["owner"] != nil || lib["name"] != "Ubuntu 24.04 Server" || lib["os"] != "linux" || lib["media"] != "disk" {
		t.Fatalf("published %v", lib)
	}
	waitLibdrive(t, e, staff, lid, "unmounted")
	// The image is the operator's; it is not one of their snapshots.
	st, body = call(t, e, "GET", "snapshots/"+lid+"/", staff, nil)
	wantErr(t, st, body, 404, "notexist", "")
	qemuIO(t, uri, "write -P 0x11 0 1M", "flush") // after publishing: not in the image

	// A tenant sees it, filters on its fields, and reads it through /drives/.
	st, body = call(t, e, "GET", "libdrives/?limit=0", tenant, nil)
	mustStatus(t, st, body, 200)
	if list := objects(t, body); len(list) != 1 || list[0]["uuid"] != lid || list[0]["distribution"] != "Ubuntu" ||
		len(list[0]["category"].([]any)) != 2 || list[0]["status"] != "unmounted" {
		t.Fatalf("tenant list %v", body)
	}
	for q, n := range map[string]int{"os=linux": 1, "os=windows": 0, "category=webserver": 1, "name__icontains=ubuntu": 1, "version=22.04,24.04": 1} {
		st, body = call(t, e, "GET", "libdrives/detail/?"+q, tenant, nil)
		if st != 200 || len(objects(t, body)) != n {
			t.Errorf("filter %s: %d %v, want %d", q, st, body, n)
		}
	}
	st, body = call(t, e, "GET", "drives/"+lid+"/", tenant, nil)
	if st != 200 || body.(obj)["owner"] != nil || body.(obj)["resource_uri"] != "/api/2.0/drives/"+lid+"/" || body.(obj)["size"] != float64(64*mib) {
		t.Fatalf("through drives: %d %v", st, body)
	}
	// Not listed among the tenant's drives.
	st, body = call(t, e, "GET", "drives/?limit=0", tenant, nil)
	if st != 200 || len(objects(t, body)) != 0 {
		t.Fatalf("tenant drives %v", body)
	}

	// Tenants may not publish or unpublish.
	own := createDrive(t, e, tenant, obj{"name": "mine", "media": "disk", "size": 64 * mib})
	waitStatus(t, e, tenant, own, "unmounted")
	st, body = call(t, e, "POST", "libdrives/", tenant, obj{"drive": own, "name": "mine"})
	wantErr(t, st, body, 403, "permission", "")
	st, body = call(t, e, "DELETE", "libdrives/"+lid+"/", tenant, nil)
	wantErr(t, st, body, 403, "permission", "")

	// Clone into the tenant's account: a drive of theirs, with the bytes
	// the image had when it was published.
	st, body = call(t, e, "POST", "libdrives/"+lid+"/action/?do=clone", tenant, obj{"name": "my-ubuntu", "size": 128 * mib})
	mustStatus(t, st, body, 202)
	c := objects(t, body)[0]
	cid := c["uuid"].(string)
	if c["status"] != "cloning_dst" || c["name"] != "my-ubuntu" || c["owner"] == nil {
		t.Fatalf("clone %v", c)
	}
	d := waitStatus(t, e, tenant, cid, "unmounted")
	if d["size"] != float64(128*mib) {
		t.Fatalf("clone size %v", d["size"])
	}
	curi := mountOn(t, e, tenant, cid)
	st, body = call(t, e, "GET", "servers/detail/", tenant, nil)
	if st != 200 || len(objects(t, body)) != 1 || len(objects(t, body)[0]["drives"].([]any)) != 1 {
		t.Fatalf("servers detail: %d %v", st, body)
	}
	qemuIO(t, curi, "read -P 0x5a 0 1M", "read -P 0x6b 63M 1M", "read -P 0 64M 64M")
	// A smaller clone, an unknown library drive and an unknown action are refused.
	st, body = call(t, e, "POST", "libdrives/"+lid+"/action/?do=clone", tenant, obj{"size": mib})
	wantErr(t, st, body, 400, "validation", "size")
	st, body = call(t, e, "POST", "libdrives/472835d5-2bbb-4d87-9d08-7364bc373692/action/?do=clone", tenant, nil)
	wantErr(t, st, body, 404, "notexist", "")
	st, body = call(t, e, "POST", "libdrives/"+lid+"/action/?do=explode", tenant, nil)
	wantErr(t, st, body, 400, "validation", "do")

	// Staff unpublish it; the tenant's clone keeps its data.
	r := e.Do("DELETE", "/api/2.0/libdrives/"+lid+"/", staff, nil)
	if r.Status != 204 {
		t.Fatalf("unpublish: %d %s", r.Status, r.Body)
	}
	st, body = call(t, e, "GET", "libdrives/"+lid+"/", tenant, nil)
	wantErr(t, st, body, 404, "notexist", "")
	qemuIO(t, curi, "read -P 0x5a 0 1M")

	st, body = call(t, e, "GET", "libdrives/schema/", tenant, nil)
	if st != 200 || body.(obj)["fields"].(obj)["os"].(obj)["required"] != true {
		t.Fatalf("schema: %d %v", st, body)
	}
}
