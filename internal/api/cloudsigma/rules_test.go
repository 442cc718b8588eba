package cloudsigma_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

// newTenant makes, through the native API, a user owning an organisation
// with one project, and returns their Basic credentials (login and
// password).
func newTenant(t *testing.T, e *testenv.Env, name string) string {
	t.Helper()
	adm := testenv.Bearer(e.AdminToken)
	pw := "pw-" + name + "-secret"
	var u, o struct{ ID string }
	r := e.Do("POST", "/api/v1/users", adm, obj{"username": name, "email": name + "@example.com", "password": pw})
	if r.Status != 201 {
		t.Fatalf("create user: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &u)
	r = e.Do("POST", "/api/v1/organisations", adm, obj{"name": "org-" + name})
	r.JSON(t, &o)
	if r := e.Do("POST", "/api/v1/organisations/"+o.ID+"/members", adm, obj{"user_id": u.ID, "role": "owner"}); r.Status != 201 {
		t.Fatalf("membership: %d %s", r.Status, r.Body)
	}
	auth := basic(name, pw)
	r = e.Do("POST", "/api/v1/projects", auth, obj{"organisation_id": o.ID, "name": "proj-" + name})
	if r.Status != 201 {
		// The native API may not take Basic; use a session then.
		var s struct{ Token string }
		e.Do("POST", "/api/v1/sessions", "", obj{"username": name, "password": pw}).JSON(t, &s)
		r = e.Do("POST", "/api/v1/projects", testenv.Bearer(s.Token), obj{"organisation_id": o.ID, "name": "proj-" + name})
		if r.Status != 201 {
			t.Fatalf("create project: %d %s", r.Status, r.Body)
		}
	}
	return auth
}

func createDrive(t *testing.T, e *testenv.Env, auth string, d obj) string {
	t.Helper()
	st, body := call(t, e, "POST", "drives/", auth, d)
	mustStatus(t, st, body, 201)
	return objects(t, body)[0]["uuid"].(string)
}

func TestAuthAndErrors(t *testing.T) {
	e := testenv.Start(t)
	auth := admin(e)

	// 401 in Tastypie's body, without and with bad credentials; the admin
	// password and the token both work as Basic passwords.
	st, body := call(t, e, "GET", "drives/", "", nil)
	wantErr(t, st, body, 401, "permission", "")
	if r := e.Do("GET", "/api/2.0/drives/", "", nil); r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 without WWW-Authenticate")
	}
	st, body = call(t, e, "GET", "drives/", basic("admin", "wrong"), nil)
	wantErr(t, st, body, 401, "permission", "")
	pw, err := os.ReadFile(filepath.Join(e.DataDir, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	st, body = call(t, e, "GET", "drives/", basic("admin", strings.TrimSpace(string(pw))), nil)
	mustStatus(t, st, body, 200)

	// 404 for unknown drives and paths, 405 for a wrong method.
	st, body = call(t, e, "GET", "drives/472835d5-2bbb-4d87-9d08-7364bc373692/", auth, nil)
	wantErr(t, st, body, 404, "notexist", "")
	if msg := body.([]any)[0].(obj)["error_message"]; msg != "Object with uuid 472835d5-2bbb-4d87-9d08-7364bc373692 does not exist" {
		t.Errorf("404 message %q", msg)
	}
	st, body = call(t, e, "GET", "nothing/", auth, nil)
	wantErr(t, st, body, 404, "notexist", "")
	st, body = call(t, e, "PATCH", "drives/", auth, obj{})
	wantErr(t, st, body, 405, "validation", "")
	r := e.Do("OPTIONS", "/api/2.0/drives/", "", nil)
	if r.Status != 200 || r.Header.Get("Allow") != "GET,DELETE,POST" {
		t.Errorf("OPTIONS: %d %v", r.Status, r.Header)
	}

	// Validation: missing required fields, bad choices, bad sizes.
	for _, c := range []struct {
		body  any
		point string
	}{
		{obj{"media": "disk", "size": 1 << 30}, "name"},
		{obj{"name": "x", "size": 1 << 30}, "media"},
		{obj{"name": "x", "media": "disk"}, "size"},
		{obj{"name": "x", "media": "tape", "size": 1 << 30}, "media"},
		{obj{"name": "x", "media": "disk", "size": "lots"}, "size"},
		{obj{"name": "x", "media": "disk", "size": 1 << 30, "storage_type": "floppy"}, "storage_type"},
		{obj{"name": "x", "media": "disk", "size": int64(1) << 50}, "size"},
		{obj{"name": "x", "media": "disk", "size": 1 << 30, "meta": obj{"k": 1}}, "meta"},
		{obj{"name": "x", "media": "disk", "size": 1 << 30, "affinities": []string{"hdd"}}, "affinities"},
		{obj{"name": "bad/name", "media": "disk", "size": 1 << 30}, "name"},
	} {
		st, body := call(t, e, "POST", "drives/", auth, c.body)
		wantErr(t, st, body, 400, "validation", c.point)
	}
	st, body = call(t, e, "POST", "drives/", auth, "{not json")
	wantErr(t, st, body, 400, "validation", "")
	st, body = call(t, e, "GET", "drives/?limit=-1", auth, nil)
	wantErr(t, st, body, 400, "validation", "limit")

	// A batch with one bad drive creates nothing and names each problem.
	st, body = call(t, e, "POST", "drives/", auth, obj{"objects": []obj{
		{"name": "good", "media": "disk", "size": 1 << 30},
		{"name": "bad", "media": "disk"},
		{"media": "disk", "size": 1 << 30},
	}})
	wantErr(t, st, body, 400, "validation", "size")
	if list := body.([]any); len(list) != 2 || list[1].(obj)["error_point"] != "name" {
		t.Errorf("batch errors: %v", list)
	}
	st, body = call(t, e, "GET", "drives/", auth, nil)
	if n := body.(obj)["meta"].(obj)["total_count"]; st != 200 || n != 0.0 {
		t.Fatalf("after a refused batch: %d drives", n)
	}

	// Size as a numeric string; resize refuses to shrink and needs a size.
	id := createDrive(t, e, auth, obj{"name": "str", "media": "disk", "size": "1024000000"})
	d := waitStatus(t, e, auth, id, "unmounted")
	if d["size"] != 1024000000.0 {
		t.Errorf("size %v, want 1024000000 unchanged", d["size"])
	}
	st, body = call(t, e, "POST", "drives/"+id+"/action/?do=resize", auth, obj{"name": "str", "media": "disk", "size": 1 << 20})
	wantErr(t, st, body, 400, "validation", "size")
	st, body = call(t, e, "POST", "drives/"+id+"/action/?do=resize", auth, obj{"name": "str"})
	wantErr(t, st, body, 400, "validation", "size")
	st, body = call(t, e, "POST", "drives/"+id+"/action/?do=clone", auth, obj{"size": 1 << 20})
	wantErr(t, st, body, 400, "validation", "size")
	st, body = call(t, e, "POST", "drives/"+id+"/action/?do=explode", auth, nil)
	wantErr(t, st, body, 400, "validation", "do")

	// A drive still being made refuses resize, clone and delete with the
	// CloudSigma state wording.
	busy := createDrive(t, e, auth, obj{"name": "busy", "media": "disk", "size": 1 << 30})
	st, body = call(t, e, "POST", "drives/"+busy+"/action/?do=resize", auth, obj{"size": 2 << 30})
	if st == 403 {
		wantErr(t, st, body, 403, "permission", "")
		if msg := body.([]any)[0].(obj)["error_message"].(string); !strings.HasPrefix(msg, `Cannot resize drive in state "creating"`) {
			t.Errorf("state message %q", msg)
		}
	} // else the create job already finished: nothing to check

	// Bulk delete with one unknown uuid deletes nothing.
	r = e.Do("DELETE", "/api/2.0/drives/", auth, obj{"objects": []obj{{"uuid": id}, {"uuid": "472835d5-2bbb-4d87-9d08-7364bc373692"}}})
	if r.Status != 404 {
		t.Fatalf("bulk delete with unknown: %d %s", r.Status, r.Body)
	}
	waitStatus(t, e, auth, id, "unmounted")

	// Filters: name (comma = OR), name__contains, uuid; limit and offset.
	waitStatus(t, e, auth, busy, "unmounted")
	for q, want := range map[string]float64{
		"name=str": 1, "name=str,busy": 2, "name__contains=US": 1, "uuid=" + id + "," + busy: 2, "name=str&uuid=" + busy: 0,
		"limit=1": 2, "tag=none": 0,
	} {
		st, body := call(t, e, "GET", "drives/detail/?"+q, auth, nil)
		mustStatus(t, st, body, 200)
		if n := body.(obj)["meta"].(obj)["total_count"]; n != want {
			t.Errorf("?%s: total %v, want %v", q, n, want)
		}
	}
	st, body = call(t, e, "GET", "drives/?limit=1&offset=1&order_by=name", auth, nil)
	if l := objects(t, body); st != 200 || len(l) != 1 || l[0]["uuid"] != id {
		t.Errorf("page 2 by name: %v", body)
	}
	st, body = call(t, e, "GET", "drives/"+id+"/?fields=name,size", auth, nil)
	if st != 200 || keys(body.(obj)) != "name,size" {
		t.Errorf("single get with fields: %v", body)
	}

	// Tags as uuids or objects come back as refs.
	st, body = call(t, e, "PUT", "drives/"+id+"/", auth, obj{"tags": []any{"3a4b", obj{"uuid": "5c6d"}}, "meta": obj{"k": "v"}})
	mustStatus(t, st, body, 200)
	if tags := body.(obj)["tags"].([]any); len(tags) != 2 || tags[1].(obj)["resource_uri"] != "/api/2.0/tags/5c6d/" {
		t.Errorf("tags %v", tags)
	}
	st, body = call(t, e, "GET", "drives/?tag=5c6d", auth, nil)
	if st != 200 || body.(obj)["meta"].(obj)["total_count"] != 1.0 {
		t.Errorf("tag filter: %v", body)
	}
	st, body = call(t, e, "GET", "tags/?limit=0", auth, nil)
	if st != 200 || body.(obj)["meta"].(obj)["total_count"] != 2.0 {
		t.Errorf("tags: %v", body)
	}
	st, body = call(t, e, "GET", "tags/5c6d/", auth, nil)
	if st != 200 || body.(obj)["resources"].([]any)[0].(obj)["uuid"] != id {
		t.Errorf("tag: %v", body)
	}
	st, body = call(t, e, "GET", "tags/5c6d/drives/", auth, nil)
	if st != 200 || objects(t, body)[0]["uuid"] != id || objects(t, body)[0]["name"] != "str" {
		t.Errorf("tag drives: %v", body)
	}
	st, body = call(t, e, "GET", "tags/none/", auth, nil)
	wantErr(t, st, body, 404, "notexist", "")
	st, body = call(t, e, "GET", "drives/availability_groups/", auth, nil)
	if groups, ok := body.([]any); st != 200 || !ok || len(groups) != 1 || len(groups[0].([]any)) != 2 {
		t.Errorf("availability groups: %d %v", st, body)
	}
	st, body = call(t, e, "GET", "profile/", auth, nil)
	if st != 200 || body.(obj)["clone_naming"] != "NONE" || body.(obj)["username"] != "admin" {
		t.Errorf("profile: %v", body)
	}

	// Responses are JSON with the documented content type; deletes are
	// 204 with an empty body.
	r = e.DoHeaders("GET", "/api/2.0/capabilities/", http.Header{"Authorization": {auth}}, nil)
	if r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("content type %q", r.Header.Get("Content-Type"))
	}
	var caps obj
	r.JSON(t, &caps)
	drives := caps["drives"].(obj)
	for _, n := range []string{"dssd", "nvme", "zadara"} {
		d, ok := drives[n].(obj)
		if !ok || d["min_size"] == nil || d["size"].(obj)["max"] == nil {
			t.Errorf("capabilities for %s: %v", n, drives[n])
		}
	}
	if caps["default_storage_type"] != "dssd" {
		t.Errorf("capabilities: %v", caps)
	}
}

// TestTenantWall: another account's drives do not exist for the caller,
// whatever the verb.
func TestTenantWall(t *testing.T) {
	e := testenv.Start(t)
	alice, bob := newTenant(t, e, "alice"), newTenant(t, e, "bob")
	mine := createDrive(t, e, alice, obj{"name": "alice-disk", "media": "disk", "size": 1 << 30})
	waitStatus(t, e, alice, mine, "unmounted")
	// Email works as the Basic login too.
	st, body := call(t, e, "GET", "drives/"+mine+"/", basic("alice@example.com", "pw-alice-secret"), nil)
	mustStatus(t, st, body, 200)

	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "drives/" + mine + "/", nil},
		{"PUT", "drives/" + mine + "/", obj{"name": "stolen"}},
		{"DELETE", "drives/" + mine + "/", nil},
		{"POST", "drives/" + mine + "/action/?do=resize", obj{"size": 2 << 30}},
		{"POST", "drives/" + mine + "/action/?do=clone", nil},
		{"DELETE", "drives/", obj{"objects": []obj{{"uuid": mine}}}},
	} {
		st, body := call(t, e, c.method, c.path, bob, c.body)
		wantErr(t, st, body, 404, "notexist", "")
	}
	// Alice's server, snapshot, RDS record and clone job are as invisible.
	st, body = call(t, e, "POST", "servers/", alice, obj{"name": "alice-vm"})
	mustStatus(t, st, body, 201)
	srv := objects(t, body)[0]["uuid"].(string)
	st, body = call(t, e, "POST", "snapshots/", alice, obj{"drive": mine, "name": "alice-snap"})
	mustStatus(t, st, body, 201)
	snap := objects(t, body)[0]["uuid"].(string)
	st, body = call(t, e, "POST", "driveusers/", alice, obj{"drive": mine, "amount": 3})
	mustStatus(t, st, body, 201)
	st, body = call(t, e, "POST", "drives/"+mine+"/action/?do=clone", alice, obj{"name": "alice-clone"})
	mustStatus(t, st, body, 202)
	job := objects(t, body)[0]["jobs"].([]any)[0].(obj)["uuid"].(string)
	st, body = call(t, e, "POST", "servers/", bob, obj{"name": "bob-vm"})
	mustStatus(t, st, body, 201)
	bobSrv := objects(t, body)[0]["uuid"].(string)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "servers/" + srv + "/", nil},
		{"PUT", "servers/" + srv + "/", obj{"name": "mine"}},
		{"POST", "servers/" + srv + "/action/?do=start", nil},
		{"PUT", "servers/" + bobSrv + "/", obj{"drives": []obj{{"drive": mine}}}},
		{"POST", "servers/", obj{"name": "steal", "drives": []obj{{"drive": mine}}}},
		{"GET", "snapshots/" + snap + "/", nil},
		{"PUT", "snapshots/" + snap + "/", obj{"name": "mine"}},
		{"DELETE", "snapshots/" + snap + "/", nil},
		{"POST", "snapshots/" + snap + "/action/?do=clone", nil},
		{"GET", "driveusers/" + mine + "/", nil},
		{"PUT", "driveusers/" + mine + "/", obj{"amount": 9}},
		{"DELETE", "driveusers/" + mine + "/", nil},
		{"POST", "driveusers/", obj{"drive": mine, "amount": 9}},
		{"GET", "jobs/" + job + "/", nil},
	} {
		st, body := call(t, e, c.method, c.path, bob, c.body)
		wantErr(t, st, body, 404, "notexist", "")
	}
	for list, n := range map[string]float64{"drives/detail/": 0, "servers/": 1, "snapshots/": 0, "driveusers/": 0} {
		st, body = call(t, e, "GET", list+"?limit=0", bob, nil)
		if st != 200 || body.(obj)["meta"].(obj)["total_count"] != n {
			t.Fatalf("bob sees %s: %v", list, body)
		}
	}
	st, body = call(t, e, "GET", "drives/detail/?limit=0", alice, nil)
	if st != 200 || body.(obj)["meta"].(obj)["total_count"] != 2.0 {
		t.Fatalf("alice sees %v", body)
	}
	st, body = call(t, e, "GET", "jobs/", bob, nil)
	if st != 200 || body.(obj)["meta"].(obj)["total_count"] != 0.0 {
		t.Fatalf("bob sees jobs %v", body)
	}
	d := waitStatus(t, e, alice, mine, "unmounted")
	if st, body := call(t, e, "GET", "driveusers/"+mine+"/", alice, nil); st != 200 || body.(obj)["amount"] != 3.0 {
		t.Fatalf("alice's RDS record: %d %v", st, body)
	}
	if d["name"] != "alice-disk" || d["size"] != float64(1<<30) {
		t.Fatalf("alice's drive changed: %v", d)
	}
}
