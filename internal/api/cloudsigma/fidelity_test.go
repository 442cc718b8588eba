package cloudsigma_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stowage/stowage/internal/testenv"
)

// onBothEngines runs body on a server over SQLite and one over
// PostgreSQL: the store code behind these features has SQL for both.
func onBothEngines(t *testing.T, body func(t *testing.T, e *testenv.Env)) {
	t.Run("sqlite", func(t *testing.T) { body(t, testenv.Start(t)) })
	t.Run("postgres", func(t *testing.T) { body(t, testenv.Start(t, testenv.Postgres(t))) })
}

// TestSchemasOfSnapshotsAndCapabilities: clients ask for both schemas;
// snapshots/schema/ used to be routed as the snapshot with uuid "schema"
// and capabilities/schema/ did not exist.
func TestSchemasOfSnapshotsAndCapabilities(t *testing.T) {
	e := testenv.Start(t)
	auth := admin(e)

	st, body := call(t, e, "GET", "snapshots/schema/", auth, nil)
	mustStatus(t, st, body, 200)
	s := body.(obj)
	if keys(s) != "allowed_detail_http_methods,allowed_list_http_methods,default_format,default_limit,fields,filtering" {
		t.Errorf("snapshot schema keys %s", keys(s))
	}
	fields := s["fields"].(obj)
	if keys(fields) != "allocated_size,drive,grantees,meta,name,owner,permissions,resource_uri,status,tags,timestamp,uuid" {
		t.Errorf("snapshot schema fields %s", keys(fields))
	}
	want := obj{"default": nil, "help_text": "Drive UUID", "readonly": false, "required": true, "type": "related"}
	if d := cmp.Diff(want, fields["drive"]); d != "" {
		t.Errorf("drive field (-want +got):\n%s", d)
	}
	if meta := fields["meta"].(obj); meta["type"] != "dict" || meta["readonly"] != false {
		t.Errorf("meta field %v", meta)
	}

	st, body = call(t, e, "GET", "capabilities/schema/", auth, nil)
	mustStatus(t, st, body, 200)
	want = obj{"allowed_methods": []any{"get"}, "help_text": "Various API capabilities. Check documentation for reference"}
	if d := cmp.Diff(want, body); d != "" {
		t.Errorf("capabilities schema (-want +got):\n%s", d)
	}
	// Without the trailing slash too, as every route.
	st, body = call(t, e, "GET", "snapshots/schema", auth, nil)
	mustStatus(t, st, body, 200)
}

// TestSnapshotMetaKeptWhole: meta is the user's dictionary, kept and
// replaced whole on PUT, as a drive's is; it used to keep only
// description.
func TestSnapshotMetaKeptWhole(t *testing.T) { onBothEngines(t, snapshotMetaKeptWhole) }

func snapshotMetaKeptWhole(t *testing.T, e *testenv.Env) {
	auth := admin(e)
	id := createDrive(t, e, auth, obj{"name": "src", "media": "disk", "size": 64 * mib})
	waitStatus(t, e, auth, id, "unmounted")

	st, body := call(t, e, "POST", "snapshots/", auth, obj{"drive": id, "name": "s", "meta": obj{"a": "b", "description": "d"}})
	mustStatus(t, st, body, 201)
	sn := objects(t, body)[0]
	if d := cmp.Diff(obj{"a": "b", "description": "d"}, sn["meta"]); d != "" {
		t.Fatalf("create meta (-want +got):\n%s", d)
	}
	sid := sn["uuid"].(string)
	got := waitSnapshot(t, e, auth, sid, "available")
	if d := cmp.Diff(obj{"a": "b", "description": "d"}, got["meta"]); d != "" {
		t.Fatalf("read meta (-want +got):\n%s", d)
	}

	// PUT replaces the dictionary: keys not sent are gone.
	st, body = call(t, e, "PUT", "snapshots/"+sid+"/", auth, obj{"meta": obj{"c": "d"}})
	mustStatus(t, st, body, 200)
	if d := cmp.Diff(obj{"c": "d"}, body.(obj)["meta"]); d != "" {
		t.Fatalf("edit meta (-want +got):\n%s", d)
	}
	st, body = call(t, e, "GET", "snapshots/"+sid+"/", auth, nil)
	mustStatus(t, st, body, 200)
	if d := cmp.Diff(obj{"c": "d"}, body.(obj)["meta"]); d != "" {
		t.Fatalf("meta after edit (-want +got):\n%s", d)
	}
	// A PUT without meta leaves it alone; a bad meta is refused and
	// changes nothing.
	st, body = call(t, e, "PUT", "snapshots/"+sid+"/", auth, obj{"name": "renamed"})
	if st != 200 || body.(obj)["name"] != "renamed" || cmp.Diff(obj{"c": "d"}, body.(obj)["meta"]) != "" {
		t.Fatalf("rename: %d %v", st, body)
	}
	st, body = call(t, e, "PUT", "snapshots/"+sid+"/", auth, obj{"meta": obj{"c": 1}})
	wantErr(t, st, body, 400, "validation", "meta")
	st, body = call(t, e, "GET", "snapshots/"+sid+"/", auth, nil)
	if st != 200 || cmp.Diff(obj{"c": "d"}, body.(obj)["meta"]) != "" {
		t.Fatalf("meta after a refused edit: %d %v", st, body)
	}
}

// TestMethodNotAllowedListsEveryMethod: a 405 names in Allow every method
// the path takes, not the first one found.
func TestMethodNotAllowedListsEveryMethod(t *testing.T) {
	e := testenv.Start(t)
	auth := admin(e)
	for _, c := range []struct{ method, path, allow string }{
		{"PATCH", "drives/", "GET,DELETE,POST"},
		{"PUT", "drives/", "GET,DELETE,POST"},
		{"PATCH", "drives", "GET,DELETE,POST"},
		{"POST", "drives/472835d5-2bbb-4d87-9d08-7364bc373692/", "GET,PUT,DELETE"},
		{"POST", "capabilities/schema/", "GET"},
		{"PUT", "jobs/", "GET"},
		{"GET", "drives/472835d5-2bbb-4d87-9d08-7364bc373692/action/", "POST"},
	} {
		r := e.Do(c.method, "/api/2.0/"+c.path, auth, nil)
		if r.Status != 405 || r.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q: %s", c.method, c.path, r.Status, r.Header.Get("Allow"), c.allow, r.Body)
		}
	}
	r := e.Do("OPTIONS", "/api/2.0/drives/472835d5-2bbb-4d87-9d08-7364bc373692/", "", nil)
	if r.Status != 200 || r.Header.Get("Allow") != "GET,PUT,DELETE" || string(r.Body) != "GET,PUT,DELETE" {
		t.Errorf("OPTIONS: %d %v %q", r.Status, r.Header, r.Body)
	}
}

// TestProfile: GET has state, PUT changes what a user may change (and
// takes back the whole GET result), /profile/schema/ exists, and the clone
// naming the profile sets names unnamed clones.
func TestProfile(t *testing.T) { onBothEngines(t, profile) }

func profile(t *testing.T, e *testenv.Env) {
	auth := admin(e)

	st, body := call(t, e, "GET", "profile/", auth, nil)
	mustStatus(t, st, body, 200)
	pr := body.(obj)
	if pr["state"] != "REGULAR" || pr["clone_naming"] != "NONE" || pr["uuid"] == "" {
		t.Fatalf("profile %v", pr)
	}

	// Clients PUT back what they read, with their changes.
	pr["company"] = "Newly Set Company Name"
	pr["last_name"] = "Doe"
	pr["meta"] = obj{"k": "v"}
	pr["clone_naming"] = "COUNTER"
	pr["state"] = "TRIAL"   // read-only: ignored
	pr["email"] = "x@y.org" // read-only: ignored
	st, body = call(t, e, "PUT", "profile/", auth, pr)
	mustStatus(t, st, body, 200)
	got := body.(obj)
	if got["company"] != "Newly Set Company Name" || got["last_name"] != "Doe" || got["clone_naming"] != "COUNTER" ||
		got["state"] != "REGULAR" || got["email"] == "x@y.org" || cmp.Diff(obj{"k": "v"}, got["meta"]) != "" {
		t.Fatalf("after PUT %v", got)
	}
	st, body = call(t, e, "GET", "profile/", auth, nil)
	if st != 200 || body.(obj)["company"] != "Newly Set Company Name" || body.(obj)["clone_naming"] != "COUNTER" {
		t.Fatalf("GET after PUT: %d %v", st, body)
	}

	// Bad values are refused and change nothing.
	for _, c := range []struct {
		body  obj
		point string
	}{
		{obj{"clone_naming": "RANDOM"}, "clone_naming"},
		{obj{"company": 7}, "company"},
		{obj{"first_name": nil}, "first_name"},
		{obj{"key_auth": true}, "key_auth"},
		{obj{"meta": obj{"k": 1}}, "meta"},
	} {
		st, body = call(t, e, "PUT", "profile/", auth, c.body)
		wantErr(t, st, body, 400, "validation", c.point)
	}
	st, body = call(t, e, "GET", "profile/", auth, nil)
	if st != 200 || body.(obj)["clone_naming"] != "COUNTER" || body.(obj)["company"] != "Newly Set Company Name" {
		t.Fatalf("GET after refused PUTs: %d %v", st, body)
	}

	// The profile is the user's: a token bound to one project reads it
	// but may not change it, as it may not change the password.
	var prj struct{ Items []struct{ ID string } }
	e.Do("GET", "/api/v1/projects", testenv.Bearer(e.AdminToken), nil).JSON(t, &prj)
	var tok struct{ Token string }
	e.Do("POST", "/api/v1/tokens", testenv.Bearer(e.AdminToken), obj{"name": "bound", "project_id": prj.Items[0].ID}).JSON(t, &tok)
	bound := basic("admin", tok.Token)
	st, body = call(t, e, "GET", "profile/", bound, nil)
	mustStatus(t, st, body, 200)
	st, body = call(t, e, "PUT", "profile/", bound, obj{"company": "Changed By A Bound Token"})
	wantErr(t, st, body, 403, "permission", "")
	st, body = call(t, e, "GET", "profile/", auth, nil)
	if st != 200 || body.(obj)["company"] != "Newly Set Company Name" {
		t.Fatalf("GET after a bound token's PUT: %d %v", st, body)
	}

	st, body = call(t, e, "GET", "profile/schema/", auth, nil)
	mustStatus(t, st, body, 200)
	fields := body.(obj)["fields"].(obj)
	if f := fields["state"].(obj); f["readonly"] != true || f["type"] != "string" {
		t.Errorf("schema state %v", f)
	}
	if f := fields["clone_naming"].(obj); f["readonly"] != false || f["default"] != "NONE" {
		t.Errorf("schema clone_naming %v", f)
	}

	// COUNTER names an unnamed clone name_1, then name_2 for a clone of it.
	id := createDrive(t, e, auth, obj{"name": "disk", "media": "disk", "size": 64 * mib})
	waitStatus(t, e, auth, id, "unmounted")
	st, body = call(t, e, "POST", "drives/"+id+"/action/?do=clone", auth, nil)
	mustStatus(t, st, body, 202)
	c1 := objects(t, body)[0]
	if c1["name"] != "disk_1" {
		t.Fatalf("clone name %v", c1["name"])
	}
	waitStatus(t, e, auth, c1["uuid"].(string), "unmounted")
	st, body = call(t, e, "POST", "drives/"+c1["uuid"].(string)+"/action/?do=clone", auth, obj{})
	if st != 202 || objects(t, body)[0]["name"] != "disk_2" {
		t.Fatalf("clone of clone: %d %v", st, body)
	}
	waitStatus(t, e, auth, objects(t, body)[0]["uuid"].(string), "unmounted")
}
