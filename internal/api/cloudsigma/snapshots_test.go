package cloudsigma_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

func waitSnapshot(t *testing.T, e *testenv.Env, auth, id, want string) obj {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, body := call(t, e, "GET", "snapshots/"+id+"/", auth, nil)
		if want == "" && st == 404 {
			wantErr(t, st, body, 404, "notexist", "")
			return nil
		}
		if st == 200 && body.(obj)["status"] == want {
			return body.(obj)
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot %s: %d %v, want %q", id, st, body, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSnapshots: create, list, filter, edit, clone to a drive (a bare
// drive in the answer, named after the snapshot), delete one and many.
func TestSnapshots(t *testing.T) {
	e := testenv.Start(t)
	auth := admin(e)
	id := createDrive(t, e, auth, obj{"name": "src", "media": "cdrom", "size": 64 * mib})
	waitStatus(t, e, auth, id, "unmounted")

	st, body := call(t, e, "POST", "snapshots/", auth, obj{"drive": id, "meta": obj{}})
	mustStatus(t, st, body, 201)
	sn := objects(t, body)[0]
	sid := sn["uuid"].(string)
	if !strings.HasPrefix(sn["name"].(string), id+"__") || sn["drive"].(obj)["uuid"] != id {
		t.Fatalf("snapshot %v", sn)
	}
	st, body = call(t, e, "POST", "snapshots/", auth, obj{"objects": []obj{{"drive": id, "name": "second"}}})
	mustStatus(t, st, body, 201)
	sid2 := objects(t, body)[0]["uuid"].(string)
	waitSnapshot(t, e, auth, sid, "available")
	waitSnapshot(t, e, auth, sid2, "available")

	st, body = call(t, e, "GET", "snapshots/?drive="+id+"&limit=0", auth, nil)
	if st != 200 || body.(obj)["meta"].(obj)["total_count"] != 2.0 || keys(objects(t, body)[0]) != "owner,resource_uri,status,uuid" {
		t.Fatalf("list %v", body)
	}
	st, body = call(t, e, "GET", "snapshots/detail/?name=second", auth, nil)
	if st != 200 || len(objects(t, body)) != 1 || objects(t, body)[0]["timestamp"] == nil {
		t.Fatalf("detail %v", body)
	}
	d := waitStatus(t, e, auth, id, "unmounted")
	if len(d["snapshots"].([]any)) != 2 {
		t.Fatalf("drive snapshots %v", d["snapshots"])
	}
	st, body = call(t, e, "PUT", "snapshots/"+sid+"/", auth, obj{"name": "renamed"})
	if st != 200 || body.(obj)["name"] != "renamed" {
		t.Fatalf("edit %d %v", st, body)
	}

	st, body = call(t, e, "POST", "snapshots/"+sid+"/action/?do=clone", auth, nil)
	mustStatus(t, st, body, 202)
	c := body.(obj)
	if c["status"] != "cloning_dst" || c["name"] != "renamed" || c["media"] != "cdrom" || c["size"] != float64(64*mib) || len(c["jobs"].([]any)) != 1 {
		t.Fatalf("snapshot clone %v", c)
	}
	waitStatus(t, e, auth, c["uuid"].(string), "unmounted")
	st, body = call(t, e, "POST", "snapshots/"+sid+"/action/?do=clone", auth, obj{"size": mib})
	wantErr(t, st, body, 400, "validation", "size")

	r := e.Do("DELETE", "/api/2.0/snapshots/"+sid+"/", auth, nil)
	if r.Status != 204 {
		t.Fatalf("delete %d %s", r.Status, r.Body)
	}
	waitSnapshot(t, e, auth, sid, "")
	r = e.Do("DELETE", "/api/2.0/snapshots/", auth, obj{"objects": []obj{{"uuid": sid2}}})
	if r.Status != 204 {
		t.Fatalf("bulk delete %d %s", r.Status, r.Body)
	}
	waitSnapshot(t, e, auth, sid2, "")

	// Deleting a drive deletes its snapshots.
	st, body = call(t, e, "POST", "snapshots/", auth, obj{"drive": id, "name": "third"})
	mustStatus(t, st, body, 201)
	sid3 := objects(t, body)[0]["uuid"].(string)
	waitSnapshot(t, e, auth, sid3, "available")
	if r := e.Do("DELETE", "/api/2.0/drives/"+id+"/", auth, nil); r.Status != 204 {
		t.Fatalf("delete drive %d %s", r.Status, r.Body)
	}
	waitGone(t, e, auth, id)
	waitSnapshot(t, e, auth, sid3, "")

	// Another account sees none of it.
	bob := newTenant(t, e, "bob")
	other := createDrive(t, e, auth, obj{"name": "other", "media": "disk", "size": 64 * mib})
	st, body = call(t, e, "POST", "snapshots/", bob, obj{"drive": other})
	wantErr(t, st, body, 404, "notexist", "")
	st, body = call(t, e, "GET", "snapshots/"+sid2+"/", bob, nil)
	wantErr(t, st, body, 404, "notexist", "")
}
