package cloudsigma_test

import (
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

// TestSeedDriveUsers replays the RDS requests of the seed: create with a
// bare object, list, get, edit, delete; a mounted drive keeps its record.
func TestSeedDriveUsers(t *testing.T) {
	e := testenv.Start(t)
	s := seed(t)
	auth := admin(e)
	a := createDrive(t, e, auth, obj{"name": "win-a", "media": "disk", "size": 1 << 30})
	b := createDrive(t, e, auth, obj{"name": "win-b", "media": "disk", "size": 1 << 30, "meta": obj{"os": "windows"}})
	waitStatus(t, e, auth, a, "unmounted")
	waitStatus(t, e, auth, b, "unmounted")

	req := s["driveusers_create_req"].(obj)
	for id, n := range map[string]float64{a: 2, b: 4} {
		req["drive"], req["amount"] = id, n
		st, body := call(t, e, "POST", "driveusers/", auth, req)
		mustStatus(t, st, body, 201)
		sameShape(t, "create", s["driveusers_create_resp"], body)
		if r := objects(t, body)[0]; r["amount"] != n || r["drive"].(obj)["uuid"] != id {
			t.Fatalf("created %v", r)
		}
	}
	st, body := call(t, e, "GET", "driveusers/?limit=0", auth, nil)
	mustStatus(t, st, body, 200)
	sameShape(t, "list", s["driveusers_list"], body)
	if body.(obj)["meta"].(obj)["total_count"] != 2.0 {
		t.Fatalf("list %v", body)
	}
	st, body = call(t, e, "GET", "driveusers/"+a+"/", auth, nil)
	mustStatus(t, st, body, 200)
	sameShape(t, "get", s["driveusers_get"], body)
	st, body = call(t, e, "PUT", "driveusers/"+a+"/", auth, s["driveusers_edit_req"])
	mustStatus(t, st, body, 200)
	sameShape(t, "edit", s["driveusers_edit_resp"], body)
	if r := objects(t, body)[0]; r["amount"] != 5.0 {
		t.Fatalf("edited %v", r)
	}

	// The count is not part of the drive's meta, and replacing meta keeps it.
	d := waitStatus(t, e, auth, b, "unmounted")
	if m := d["meta"].(obj); len(m) != 1 || m["os"] != "windows" {
		t.Fatalf("meta %v", m)
	}
	st, body = call(t, e, "PUT", "drives/"+b+"/", auth, obj{"meta": obj{"cloudsigma.rds_users": "99"}})
	mustStatus(t, st, body, 200)
	if m := body.(obj)["meta"].(obj); len(m) != 0 {
		t.Fatalf("meta after PUT %v", m)
	}
	st, body = call(t, e, "GET", "driveusers/"+b+"/", auth, nil)
	if st != 200 || body.(obj)["amount"] != 4.0 {
		t.Fatalf("after a meta PUT: %d %v", st, body)
	}

	// Mounted: the record stays; unmounted: it goes.
	st, body = call(t, e, "POST", "servers/", auth, obj{"name": "rds", "drives": []obj{{"drive": b}}})
	mustStatus(t, st, body, 201)
	sid := objects(t, body)[0]["uuid"].(string)
	nbdURI(t, e, auth, sid, b) // attached and served
	st, body = call(t, e, "DELETE", "driveusers/"+b+"/", auth, nil)
	wantErr(t, st, body, 403, "permission", "")
	st, body = call(t, e, "PUT", "servers/"+sid+"/", auth, obj{"drives": []obj{}})
	mustStatus(t, st, body, 200)
	waitStatus(t, e, auth, b, "unmounted")
	for _, id := range []string{a, b} {
		r := e.Do("DELETE", "/api/2.0/driveusers/"+id+"/", auth, nil)
		if r.Status != 204 || len(r.Body) != 0 || r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Fatalf("delete: %d %v %s", r.Status, r.Header, r.Body)
		}
		st, body := call(t, e, "GET", "driveusers/"+id+"/", auth, nil)
		wantErr(t, st, body, 404, "notexist", "")
	}
	st, body = call(t, e, "POST", "driveusers/", auth, obj{"drive": "472835d5-2bbb-4d87-9d08-7364bc373692", "amount": 1})
	wantErr(t, st, body, 404, "notexist", "")
	st, body = call(t, e, "POST", "driveusers/", auth, obj{"drive": a, "amount": 0})
	wantErr(t, st, body, 400, "validation", "amount")
}
