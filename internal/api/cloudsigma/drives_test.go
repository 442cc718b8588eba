package cloudsigma_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

// TestSeedDrives replays every drive request of the seed in order and
// compares each answer's status and shape with the recorded one.
func TestSeedDrives(t *testing.T) {
	e := testenv.Start(t)
	s := seed(t)
	auth := admin(e)
	firstOf := func(key string) obj { return objects(t, s[key])[0] }

	// Create one (a bare object), many ({"objects": [...]}), many (a bare
	// list), and with storage types nvme and zadara.
	st, body := call(t, e, "POST", "drives/", auth, s["create_one_req"])
	mustStatus(t, st, body, 201)
	one := objects(t, body)
	if len(one) != 1 || one[0]["status"] != "creating" || one[0]["name"] != "test_drive_0" || one[0]["size"] != 1073741824.0 ||
		one[0]["storage_type"] != "dssd" || one[0]["media"] != "disk" {
		t.Fatalf("create one: %v", body)
	}
	sameShape(t, "create one", firstOf("create_many_resp"), one[0])
	var all []obj
	all = append(all, one...)
	for _, key := range []string{"create_many_req", "create_list_req"} {
		st, body = call(t, e, "POST", "drives/", auth, s[key])
		mustStatus(t, st, body, 201)
		got := objects(t, body)
		if len(got) != 5 {
			t.Fatalf("%s: %d drives", key, len(got))
		}
		for i, d := range got {
			if d["name"] != fmt.Sprintf("test_drive_%d", i) || d["status"] != "creating" {
				t.Errorf("%s: %v", key, d)
			}
			sameShape(t, key, objects(t, s["create_many_resp"])[i], d)
		}
		all = append(all, got...)
	}
	for _, typ := range []string{"nvme", "zadara"} {
		st, body = call(t, e, "POST", "drives/", auth, s["create_"+typ+"_req"])
		mustStatus(t, st, body, 201)
		d := objects(t, body)[0]
		if d["storage_type"] != typ || d["runtime"].(obj)["storage_type"] != typ {
			t.Fatalf("create %s: %v", typ, d)
		}
		sameShape(t, "create "+typ, firstOf("create_"+typ+"_resp"), d)
		all = append(all, d)
	}
	for _, d := range all {
		waitStatus(t, e, auth, d["uuid"].(string), "unmounted")
	}

	// The short list, the fields list, the detail list and one drive.
	st, body = call(t, e, "GET", "drives/?limit=0", auth, nil)
	mustStatus(t, st, body, 200)
	sameShape(t, "list", s["list"], body)
	if m := body.(obj)["meta"].(obj); m["total_count"] != 13.0 || m["limit"] != 0.0 || m["offset"] != 0.0 {
		t.Errorf("list meta %v", m)
	}
	for _, d := range objects(t, body) {
		if keys(d) != "owner,resource_uri,status,uuid" {
			t.Errorf("short drive has %s", keys(d))
		}
	}
	st, body = call(t, e, "GET", "drives/?fields=uuid,status&limit=0", auth, nil)
	mustStatus(t, st, body, 200)
	sameShape(t, "fields", s["list_fields"], body)
	for _, d := range objects(t, body) {
		if keys(d) != "status,uuid" {
			t.Errorf("fields=uuid,status gave %s", keys(d))
		}
	}
	st, body = call(t, e, "GET", "drives/detail/?limit=0", auth, nil)
	mustStatus(t, st, body, 200)
	sameShape(t, "detail", s["detail"], body)
	if n := len(objects(t, body)); n != 13 {
		t.Errorf("detail: %d drives", n)
	}
	id := all[1]["uuid"].(string)
	st, body = call(t, e, "GET", "drives/"+id+"/", auth, nil)
	mustStatus(t, st, body, 200)
	sameShape(t, "get", s["get"], body)
	if body.(obj)["uuid"] != id || body.(obj)["resource_uri"] != "/api/2.0/drives/"+id+"/" {
		t.Errorf("get: %v", body)
	}

	// Edit: media and name change, size stays.
	st, body = call(t, e, "PUT", "drives/"+id+"/", auth, s["edit_req"])
	mustStatus(t, st, body, 200)
	sameShape(t, "edit", s["edit_resp"], body)
	if d := body.(obj); d["media"] != "cdrom" || d["name"] != "test_drive_y" || d["size"] != 1073741824.0 || d["status"] != "unmounted" {
		t.Errorf("edit: %v", d)
	}

	// Resize with the full definition (read-only fields included and
	// ignored): 202, old size, status resizing; then the new size.
	rid := all[2]["uuid"].(string)
	st, body = call(t, e, "POST", "drives/"+rid+"/action/?do=resize", auth, s["resize_req"])
	mustStatus(t, st, body, 202)
	sameShape(t, "resize", s["resize_resp"], body)
	if d := objects(t, body)[0]; d["status"] != "resizing" || d["size"] != 1073741824.0 || d["name"] != "test_drive_1" {
		t.Errorf("resize: %v", d)
	}
	if d := waitStatus(t, e, auth, rid, "unmounted"); d["size"] != 4294967296.0 {
		t.Errorf("after resize: %v", d)
	}

	// Clone with a body: the size rounds up to 16 KiB, media and name
	// as asked, one job.
	st, body = call(t, e, "POST", "drives/"+id+"/action/?do=clone", auth, s["clone_req"])
	mustStatus(t, st, body, 202)
	sameShape(t, "clone", s["clone_resp"], body)
	c := objects(t, body)[0]
	if c["status"] != "cloning_dst" || c["size"] != 1207975936.0 || c["media"] != "cdrom" || c["name"] != "test_drive_y" ||
		len(c["jobs"].([]any)) != 1 || c["uuid"] == id {
		t.Errorf("clone: %v", c)
	}
	waitStatus(t, e, auth, c["uuid"].(string), "unmounted")

	// Clone to the same storage type with {}, and to another one.
	zid := all[len(all)-1]["uuid"].(string)
	st, body = call(t, e, "POST", "drives/"+zid+"/action/?do=clone", auth, s["clone_same_req"])
	mustStatus(t, st, body, 202)
	sameShape(t, "clone same", s["clone_same_resp"], body)
	if c := objects(t, body)[0]; c["name"] != "test_zadara_drive" || c["storage_type"] != "zadara" || c["status"] != "cloning_dst" {
		t.Errorf("clone same type: %v", c)
	}
	st, body = call(t, e, "POST", "drives/"+all[0]["uuid"].(string)+"/action/?do=clone", auth, s["clone_other_req"])
	mustStatus(t, st, body, 202)
	sameShape(t, "clone other", s["clone_other_resp"], body)
	if c := objects(t, body)[0]; c["storage_type"] != "zadara" || c["name"] != "test_drive_0" {
		t.Errorf("clone other type: %v", c)
	}

	// Bulk delete with the documentation's body (trailing commas and
	// all), its uuids swapped for ours; then one delete.
	raw := s["bulk_delete_req_raw"].(string)
	var gone []string
	for i, old := range []string{"b137e217-42b6-4ecf-8575-d72efc2d3dbd", "e035a488-8587-4a15-ab25-9b7343236bc9", "feded33c-106f-49fa-a1c4-be5c718ad1b5"} {
		nid := all[5+i]["uuid"].(string)
		raw = strings.Replace(raw, old, nid, 1)
		gone = append(gone, nid)
	}
	r := e.Do("DELETE", "/api/2.0/drives/", auth, raw)
	if r.Status != 204 || len(r.Body) != 0 {
		t.Fatalf("bulk delete: %d %s", r.Status, r.Body)
	}
	r = e.Do("DELETE", "/api/2.0/drives/"+all[8]["uuid"].(string)+"/", auth, nil)
	if r.Status != 204 || len(r.Body) != 0 || r.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	for _, g := range append(gone, all[8]["uuid"].(string)) {
		waitGone(t, e, auth, g)
	}
	st, body = call(t, e, "GET", "drives/?limit=0", auth, nil)
	mustStatus(t, st, body, 200)
	if n := body.(obj)["meta"].(obj)["total_count"]; n != 12.0 { // 13 + 3 clones - 4 deleted
		t.Errorf("after deletes: total %v", n)
	}

	// The schema has the seed's shape.
	st, body = call(t, e, "GET", "drives/schema/", auth, nil)
	mustStatus(t, st, body, 200)
	sameShape(t, "schema", s["schema"], body)
}
