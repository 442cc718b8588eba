package waldur_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stowage/stowage/internal/testenv"
)

// seedVolumeFields is the seed's volume representation, field by field.
var seedVolumeFields = strings.Fields(`url uuid name description service_name service_settings service_settings_uuid
service_settings_state service_settings_error_message project project_name project_uuid customer customer_uuid
customer_name customer_native_name customer_abbreviation error_message error_traceback resource_type state created
modified backend_id access_url source_snapshot size bootable metadata image image_metadata image_name type type_name
runtime_state availability_zone availability_zone_name device action action_details instance instance_name
instance_marketplace_uuid tenant tenant_uuid extend_enabled marketplace_offering_uuid marketplace_offering_name
marketplace_offering_plugin_options marketplace_category_uuid marketplace_category_name marketplace_resource_uuid
marketplace_plan_uuid marketplace_resource_state is_usage_based is_limit_based`)

// seedSnapshotFields is the seed's snapshot representation (the 201 of …/snapshot/).
var seedSnapshotFields = strings.Fields(`url uuid name description service_name service_settings service_settings_uuid
service_settings_state service_settings_error_message project project_name project_uuid customer customer_uuid
customer_name customer_native_name customer_abbreviation error_message error_traceback resource_type state created
modified backend_id access_url source_volume size metadata runtime_state source_volume_name
source_volume_marketplace_uuid action action_details restorations kept_until marketplace_offering_uuid
marketplace_offering_name marketplace_offering_plugin_options marketplace_category_uuid marketplace_category_name
marketplace_resource_uuid marketplace_plan_uuid marketplace_resource_state is_usage_based is_limit_based`)

// leftOutWhenMissing are the seed's fields that point at something the
// object may not have (an instance, an image, a marketplace resource):
// DRF leaves them out then, and a null would fail a typed client.
var leftOutWhenMissing = strings.Fields(`access_url source_snapshot image instance instance_name instance_marketplace_uuid
source_volume_marketplace_uuid marketplace_offering_uuid marketplace_category_uuid marketplace_resource_uuid marketplace_plan_uuid`)

// hasFields checks that every field is present and typed as py-client
// parses it: uuids as 32 hex characters, timestamps ISO-8601, state one of
// the [new] strings, sizes integers.
func hasFields(t *testing.T, what string, m obj, fields []string) {
	t.Helper()
	for _, f := range fields {
		v, ok := m[f]
		if !ok {
			if !slices.Contains(leftOutWhenMissing, f) {
				t.Errorf("%s lacks %q", what, f)
			}
			continue
		}
		switch {
		case f == "uuid" || strings.HasSuffix(f, "_uuid"):
			if s, isStr := v.(string); !isStr || !hexUUID.MatchString(s) {
				t.Errorf("%s.%s = %v, not a uuid", what, f, v)
			}
		case f == "created" || f == "modified":
			if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(v)); err != nil || !strings.HasSuffix(fmt.Sprint(v), "Z") {
				t.Errorf("%s.%s = %v: %v", what, f, v, err)
			}
		case f == "state":
			if !strings.Contains(" CREATION_SCHEDULED CREATING UPDATE_SCHEDULED UPDATING DELETION_SCHEDULED DELETING OK ERRED ", " "+fmt.Sprint(v)+" ") {
				t.Errorf("%s.state = %v", what, v)
			}
		case f == "size":
			if n, isNum := v.(float64); !isNum || n != float64(int64(n)) {
				t.Errorf("%s.size = %v", what, v)
			}
		case f == "bootable" || strings.HasPrefix(f, "is_") || f == "extend_enabled":
			if _, isBool := v.(bool); !isBool {
				t.Errorf("%s.%s = %v, not a bool", what, f, v)
			}
		}
	}
}

// orderVolume orders a volume through the marketplace, waits for the order
// and returns the order and the volume as the OpenStack API shows it.
func orderVolume(t *testing.T, e *testenv.Env, auth string, c catalog, name string, gb int) (order, vol obj) {
	t.Helper()
	r := e.Do("POST", "/api/marketplace-orders/", auth, obj{"project": c.project["url"], "offering": c.volume["url"],
		"plan": c.volumePlan["url"], "attributes": obj{"name": name}, "limits": obj{"storage": gb}})
	want(t, r, 201, "")
	o := waitOrder(t, e, auth, decode[obj](t, r)["uuid"].(string), "done", "erred")
	if o["state"] != "done" {
		t.Fatalf("order: %v", o["error_message"])
	}
	r = e.Do("GET", "/api/openstack-volumes/"+o["resource_uuid"].(string)+"/", auth, nil)
	want(t, r, 200, "")
	return o, decode[obj](t, r)
}

// waitFor polls path until ok accepts the object.
func waitFor(t *testing.T, e *testenv.Env, auth, path string, ok func(obj) bool) obj {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := e.Do("GET", path, auth, nil)
		if r.Status == 200 {
			if m := decode[obj](t, r); ok(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached the wanted state: %d %s", path, r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stateIs(state, runtime string) func(obj) bool {
	return func(m obj) bool { return m["state"] == state && (runtime == "" || m["runtime_state"] == runtime) }
}

// newInstance makes an instance with the native API and returns its
// OpenStack representation.
func newInstance(t *testing.T, e *testenv.Env, auth, projectID, name, power string) obj {
	t.Helper()
	r := e.Do("POST", "/api/v1/instances", testenv.Bearer(e.AdminToken), obj{"project_id": projectID, "name": name, "power_state": power})
	want(t, r, 201, "")
	id := strings.ReplaceAll(decode[obj](t, r)["id"].(string), "-", "")
	r = e.Do("GET", "/api/openstack-instances/"+id+"/", auth, nil)
	want(t, r, 200, "")
	return decode[obj](t, r)
}

func path(u any) string {
	s := u.(string)
	return s[strings.Index(s, "/api/"):]
}

func listOf(t *testing.T, e *testenv.Env, auth, query string) []obj {
	t.Helper()
	r := e.Do("GET", "/api/openstack-volumes/"+query, auth, nil)
	want(t, r, 200, "")
	return decode[[]obj](t, r)
}

func names(list []obj) []string {
	out := []string{}
	for _, m := range list {
		out = append(out, m["name"].(string))
	}
	sort.Strings(out)
	return out
}

// TestOpenStackVolumeScenario runs the scenario through the Waldur
// dialect only (plus the order API and the native instance API, since
// Waldur has no way to make instances here).
func TestOpenStackVolumeScenario(t *testing.T) {
	e := start(t)
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	project := dashed(c.project["uuid"].(string))

	o, v := orderVolume(t, e, auth, c, "data", 2)
	hasFields(t, "volume", v, seedVolumeFields)
	vpath := "/api/openstack-volumes/" + v["uuid"].(string) + "/"
	if v["size"] != float64(2048) || v["state"] != "OK" || v["runtime_state"] != "available" ||
		v["resource_type"] != "OpenStack.Volume" || v["device"] != "" || v["instance"] != nil || v["action"] != "" {
		t.Fatalf("new volume %v", v)
	}
	if !hexUUID.MatchString(v["uuid"].(string)) || v["url"] != e.URL(vpath) {
		t.Errorf("uuid %v url %v", v["uuid"], v["url"])
	}
	if v["marketplace_resource_uuid"] != o["marketplace_resource_uuid"] || v["marketplace_offering_uuid"] != c.volume["uuid"] ||
		v["marketplace_plan_uuid"] != c.volumePlan["uuid"] || v["marketplace_resource_state"] != "OK" ||
		v["marketplace_offering_name"] != c.volume["name"] || v["marketplace_category_uuid"] != c.volume["category_uuid"] ||
		v["is_limit_based"] != true || v["is_usage_based"] != true { // the default volume offering bills snapshot bytes by usage
		t.Errorf("marketplace fields: %v %v %v %v", v["marketplace_resource_uuid"], v["marketplace_offering_uuid"],
			v["marketplace_plan_uuid"], v["marketplace_resource_state"])
	}
	if v["project_uuid"] != c.project["uuid"] || v["tenant_uuid"] != c.project["uuid"] || v["customer_uuid"] != c.project["customer_uuid"] {
		t.Errorf("project/tenant/customer: %v %v %v", v["project_uuid"], v["tenant_uuid"], v["customer_uuid"])
	}
	if _, err := time.Parse("2006-01-02T15:04:05.999999Z", v["created"].(string)); err != nil {
		t.Errorf("created: %v", err)
	}
	// Every hyperlink resolves.
	for _, f := range []string{"type", "availability_zone", "tenant", "service_settings", "project", "customer"} {
		r := e.Do("GET", path(v[f]), auth, nil)
		want(t, r, 200, "")
		if got := decode[obj](t, r); got["url"] != v[f] {
			t.Errorf("%s resolves to %v", f, got["url"])
		}
	}
	if ty := decode[obj](t, e.Do("GET", path(v["type"]), auth, nil)); ty["name"] != v["type_name"] {
		t.Errorf("type %v vs type_name %v", ty["name"], v["type_name"])
	}

	// Filters and field selection.
	for q, n := range map[string]int{"": 1, "?name=AT": 1, "?name_exact=dat": 0, "?name_exact=data": 1, "?state=OK": 1,
		"?state=ERRED&state=CREATING": 0, "?state=OK&state=ERRED": 1, "?project_uuid=" + project: 1,
		"?project=" + c.project["uuid"].(string): 1, "?customer_uuid=" + c.project["customer_uuid"].(string): 1,
		"?runtime_state=available": 1, "?runtime_state=in-use": 0, "?tenant=" + v["tenant"].(string): 1,
		"?tenant_uuid=" + v["tenant_uuid"].(string): 1, "?uuid=" + v["uuid"].(string): 1, "?backend_id=" + v["backend_id"].(string): 1,
		"?availability_zone_name=" + v["availability_zone_name"].(string): 1, "?external_ip=1.2.3.4": 0,
		"?can_manage=true": 1, "?can_manage=false": 0, "?description=zzz": 0, "?service_settings_uuid=" + v["service_settings_uuid"].(string): 1,
		"?service_settings_name=" + v["service_name"].(string): 1, "?customer_name=" + v["customer_name"].(string): 1,
		"?project_name=nope": 0, "?instance=" + e.URL("/api/openstack-types/x/"): 0} {
		if got := listOf(t, e, auth, q); len(got) != n {
			t.Errorf("%s: %d volumes, want %d", q, len(got), n)
		}
	}
	want(t, e.Do("GET", "/api/openstack-volumes/?state=Erred", auth, nil), 400,
		`{"state": ["Select a valid choice. Erred is not one of the available choices."]}`)
	want(t, e.Do("GET", "/api/openstack-volumes/?project_uuid=xyz", auth, nil), 400, `{"project_uuid": ["Enter a valid UUID."]}`)
	want(t, e.Do("GET", "/api/openstack-volumes/?field=uuid&field=size&field=bogus", auth, nil), 200,
		fmt.Sprintf(`[{"uuid": %q, "size": 2048}]`, v["uuid"]))
	want(t, e.Do("GET", vpath+"?field=state&field=runtime_state", auth, nil), 200, `{"state": "OK", "runtime_state": "available"}`)

	// Attach to an ACTIVE instance.
	vm := newInstance(t, e, auth, project, "vm", "running")
	if vm["runtime_state"] != "ACTIVE" || vm["state"] != "OK" {
		t.Fatalf("instance %v", vm)
	}
	if got := listOf(t, e, auth, "?attach_instance_uuid="+vm["uuid"].(string)); len(got) != 1 {
		t.Errorf("attachable to vm: %d", len(got))
	}
	want(t, e.Do("POST", vpath+"attach/", auth, obj{}), 400, `{"instance": ["This field is required."]}`)
	want(t, e.Do("POST", vpath+"attach/", auth, obj{"instance": e.URL("/api/openstack-instances/" + strings.Repeat("0", 32) + "/")}), 400,
		`{"instance": ["Invalid hyperlink - Object does not exist."]}`)
	want(t, e.Do("POST", vpath+"attach/", auth, obj{"instance": vm["url"]}), 200, `{"status": "attach was scheduled"}`)
	v = waitFor(t, e, auth, vpath, stateIs("OK", "in-use"))
	if v["device"] != "/dev/vdb" || v["instance"] != vm["url"] || v["instance_name"] != "vm" {
		t.Errorf("attached: device %v instance %v %v", v["device"], v["instance"], v["instance_name"])
	}
	// The hypervisor side: the native API hands out the attachment's NBD
	// uri, which reads and writes.
	nv := decode[obj](t, e.Do("GET", "/api/v1/volumes/"+dashed(v["uuid"].(string)), testenv.Bearer(e.AdminToken), nil))
	atts, _ := nv["attachments"].([]any)
	if len(atts) != 1 {
		t.Fatalf("native attachments %v", nv["attachments"])
	}
	nbdRoundTrip(t, atts[0].(obj)["connection_info"].(obj)["uri"].(string))
	for q, n := range map[string]int{"?instance=" + vm["url"].(string): 1, "?instance_uuid=" + vm["uuid"].(string): 1,
		"?attach_instance_uuid=" + vm["uuid"].(string): 0, "?runtime_state=in-use": 1} {
		if got := listOf(t, e, auth, q); len(got) != n {
			t.Errorf("%s: %d volumes, want %d", q, len(got), n)
		}
	}
	// State validators come before the body: a bad body on an attached volume is 409.
	want(t, e.Do("POST", vpath+"attach/", auth, obj{}), 409, `{"detail": "Valid runtime states for operation: available."}`)
	want(t, e.Do("POST", vpath+"retype/", auth, obj{"type": v["type"]}), 409, `{"detail": "Valid runtime states for operation: available."}`)

	// Extend is refused while the instance runs, accepted once it is shut off.
	want(t, e.Do("POST", vpath+"extend/", auth, obj{"disk_size": 4096}), 409, `{"detail": "Volume instance should be in shutoff state."}`)
	want(t, e.Do("PATCH", "/api/v1/instances/"+dashed(vm["uuid"].(string)), testenv.Bearer(e.AdminToken), obj{"power_state": "stopped"}), 200, "")
	if got := decode[obj](t, e.Do("GET", path(vm["url"]), auth, nil)); got["runtime_state"] != "SHUTOFF" {
		t.Fatalf("instance after stop: %v", got["runtime_state"])
	}
	want(t, e.Do("POST", vpath+"extend/", auth, obj{"disk_size": 3071}), 400, `{"disk_size": ["Disk size should be greater or equal to 3072"]}`)
	want(t, e.Do("POST", vpath+"extend/", auth, obj{"disk_size": "x"}), 400, `{"disk_size": ["A valid integer is required."]}`)
	want(t, e.Do("POST", vpath+"extend/", auth, obj{}), 400, `{"disk_size": ["This field is required."]}`)
	want(t, e.Do("POST", vpath+"extend/", auth, obj{"disk_size": 3072}), 200, `{"status": "extend was scheduled"}`)
	v = waitFor(t, e, auth, vpath, stateIs("OK", "in-use"))
	if v["size"] != float64(3072) {
		t.Errorf("size after extend %v", v["size"])
	}

	// Detach.
	want(t, e.Do("POST", vpath+"detach/", auth, nil), 200, `{"status": "detach was scheduled"}`)
	v = waitFor(t, e, auth, vpath, stateIs("OK", "available"))
	if v["instance"] != nil || v["device"] != "" {
		t.Errorf("detached: %v %v", v["instance"], v["device"])
	}
	want(t, e.Do("POST", vpath+"detach/", auth, nil), 409, `{"detail": "Volume is not attached to an instance."}`)

	// Retype.
	var hdd obj
	for _, ty := range decode[[]obj](t, e.Do("GET", "/api/openstack-volume-types/", auth, nil)) {
		if ty["name"] == "hdd" {
			hdd = ty
		}
	}
	want(t, e.Do("POST", vpath+"retype/", auth, obj{"type": v["type"]}), 400, `{"type": ["Volume already has requested type."]}`)
	want(t, e.Do("POST", vpath+"retype/", auth, obj{}), 400, `{"type": ["This field is required."]}`)
	want(t, e.Do("POST", vpath+"retype/", auth, obj{"type": hdd["url"]}), 200, `{"status": "retype was scheduled"}`)
	v = waitFor(t, e, auth, vpath, stateIs("OK", "available"))
	if v["type_name"] != "hdd" || v["type"] != hdd["url"] {
		t.Errorf("after retype: %v %v", v["type_name"], v["type"])
	}

	// Update.
	want(t, e.Do("PUT", vpath, auth, obj{"description": "d"}), 400, `{"name": ["This field is required."]}`)
	want(t, e.Do("PATCH", vpath, auth, obj{"name": "  "}), 400, `{"name": ["Ensure that name has at least one non-whitespace character."]}`)
	r := e.Do("PUT", vpath, auth, obj{"name": "my-awesome-openstack-volume"})
	want(t, r, 200, "")
	if u := decode[obj](t, r); u["name"] != "my-awesome-openstack-volume" {
		t.Errorf("PUT: %v", u["name"])
	}
	hasFields(t, "PUT answer", decode[obj](t, r), seedVolumeFields)
	r = e.Do("PATCH", vpath, auth, obj{"description": "scratch", "bootable": true})
	want(t, r, 200, "")
	if u := decode[obj](t, r); u["description"] != "scratch" || u["bootable"] != true {
		t.Errorf("PATCH: %v", u)
	}
	want(t, e.Do("POST", vpath+"extend/", auth, obj{"disk_size": 9999}), 409, `{"detail": "Volume cannot be bootable."}`)
	want(t, e.Do("POST", vpath+"detach/", auth, nil), 409, `{"detail": "Volume cannot be bootable."}`)
	want(t, e.Do("PATCH", vpath, auth, obj{"bootable": false}), 200, "")

	// Pull, and the disabled methods.
	want(t, e.Do("POST", vpath+"pull/", auth, nil), 202, `{"detail": "Pull operation was successfully scheduled."}`)
	want(t, e.Do("POST", "/api/openstack-volumes/", auth, obj{"name": "x"}), 405, `{"detail": "Method \"POST\" not allowed."}`)
	want(t, e.Do("DELETE", vpath, auth, nil), 405, `{"detail": "Method \"DELETE\" not allowed."}`)
	want(t, e.Do("POST", vpath+"bogus/", auth, nil), 404, "")

	// Snapshot, then restore.
	want(t, e.Do("POST", vpath+"snapshot/", auth, obj{}), 400, `{"name": ["This field is required."]}`)
	r = e.Do("POST", vpath+"snapshot/", auth, obj{"name": "snap1", "description": "before", "kept_until": nil})
	want(t, r, 201, "")
	sn := decode[obj](t, r)
	hasFields(t, "snapshot", sn, seedSnapshotFields)
	if sn["state"] != "CREATION_SCHEDULED" || sn["size"] != float64(3072) || sn["source_volume"] != v["url"] ||
		sn["resource_type"] != "OpenStack.Snapshot" || sn["kept_until"] != nil {
		t.Errorf("snapshot %v", sn)
	}
	if rs, ok := sn["restorations"].([]any); !ok || len(rs) != 0 {
		t.Errorf("restorations %v", sn["restorations"])
	}
	spath := path(sn["url"])
	sn = waitFor(t, e, auth, spath, stateIs("OK", ""))
	if got := decode[[]obj](t, e.Do("GET", "/api/openstack-snapshots/", auth, nil)); len(got) != 1 || got[0]["uuid"] != sn["uuid"] {
		t.Errorf("snapshot list %v", got)
	}
	want(t, e.Do("PATCH", spath, auth, obj{"description": "renamed"}), 200, "")
	r = e.Do("POST", spath+"restore/", auth, obj{"name": "restored"})
	want(t, r, 201, "")
	rv := decode[obj](t, r)
	if rv["description"] != "Restored from snapshot snap1" || rv["size"] != float64(3072) || rv["source_snapshot"] != sn["url"] ||
		rv["type_name"] != "hdd" {
		t.Errorf("restored %v", rv)
	}
	rvpath := path(rv["url"])
	waitFor(t, e, auth, rvpath, stateIs("OK", "available"))
	rs := decode[[]obj](t, e.Do("GET", spath+"restorations/", auth, nil))
	if len(rs) != 1 || rs[0]["volume"] != rv["url"] || rs[0]["volume_name"] != "restored" || rs[0]["volume_size"] != float64(3072) {
		t.Errorf("restorations %v", rs)
	}
	if got := names(listOf(t, e, auth, "?snapshot_uuid="+sn["uuid"].(string))); !cmp.Equal(got, []string{"restored"}) {
		t.Errorf("snapshot_uuid filter: %v", got)
	}
	if got := names(listOf(t, e, auth, "?snapshot="+sn["url"].(string))); !cmp.Equal(got, []string{"restored"}) {
		t.Errorf("snapshot filter: %v", got)
	}
	if got := decode[obj](t, e.Do("GET", spath, auth, nil)); len(got["restorations"].([]any)) != 1 {
		t.Errorf("snapshot restorations %v", got["restorations"])
	}

	// Unlink is staff only.
	bob := tok(user(t, e, "bob", "projects", project, "member"))
	want(t, e.Do("POST", rvpath+"unlink/", bob, nil), 403, `{"detail": "You do not have permission to perform this action."}`)
	r = e.Do("POST", rvpath+"unlink/", auth, nil)
	if r.Status != 204 || len(r.Body) != 0 {
		t.Fatalf("unlink: %d %s", r.Status, r.Body)
	}

	// Delete the snapshot, then terminate the volume through its resource.
	want(t, e.Do("DELETE", spath, auth, nil), 202, `{"status": "destroy was scheduled"}`)
	deadline := time.Now().Add(15 * time.Second)
	for e.Do("GET", spath, auth, nil).Status != 404 {
		if time.Now().After(deadline) {
			t.Fatal("snapshot never went away")
		}
		time.Sleep(20 * time.Millisecond)
	}
	term := decode[obj](t, e.Do("POST", "/api/marketplace-resources/"+o["marketplace_resource_uuid"].(string)+"/terminate/", auth, nil))
	if u := waitOrder(t, e, auth, term["order_uuid"].(string), "done", "erred"); u["state"] != "done" {
		t.Fatalf("terminate: %v", u["error_message"])
	}
	want(t, e.Do("GET", vpath, auth, nil), 404, "")
}

// TestOpenStackVolumeWalls checks visibility (another customer sees
// nothing: 404s and empty lists) and §4's precedence for a viewer:
// 404 before 403, and 403 before any state validator.
func TestOpenStackVolumeWalls(t *testing.T) {
	e := start(t)
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	project := dashed(c.project["uuid"].(string))
	_, v := orderVolume(t, e, auth, c, "mine", 1)
	vpath := "/api/openstack-volumes/" + v["uuid"].(string) + "/"
	r := e.Do("POST", vpath+"snapshot/", auth, obj{"name": "s"})
	want(t, r, 201, "")
	spath := path(decode[obj](t, r)["url"])
	vm := newInstance(t, e, auth, project, "vm", "running")

	org := decode[obj](t, e.Do("POST", "/api/v1/organisations", testenv.Bearer(e.AdminToken), obj{"name": "other"}))
	eve := tok(user(t, e, "eve", "organisations", org["id"].(string), "owner"))
	want(t, e.Do("GET", "/api/openstack-volumes/", eve, nil), 200, "[]")
	want(t, e.Do("GET", "/api/openstack-volumes/?name=mine", eve, nil), 200, "[]")
	want(t, e.Do("GET", "/api/openstack-volumes/?project_uuid="+c.project["uuid"].(string), eve, nil), 200, "[]")
	want(t, e.Do("GET", "/api/openstack-snapshots/", eve, nil), 200, "[]")
	want(t, e.Do("GET", "/api/openstack-instances/", eve, nil), 200, "[]")
	want(t, e.Do("GET", vpath, eve, nil), 404, `{"detail": "Not found."}`)
	want(t, e.Do("GET", spath, eve, nil), 404, "")
	want(t, e.Do("GET", path(vm["url"]), eve, nil), 404, "")
	want(t, e.Do("GET", path(v["tenant"]), eve, nil), 404, "")
	want(t, e.Do("PATCH", vpath, eve, obj{"name": "theirs"}), 404, "")
	for _, action := range []string{"pull", "unlink", "attach", "detach", "extend", "retype", "snapshot"} {
		want(t, e.Do("POST", vpath+action+"/", eve, obj{"name": "x"}), 404, "")
	}
	want(t, e.Do("POST", spath+"restore/", eve, obj{"name": "x"}), 404, "")
	want(t, e.Do("DELETE", spath, eve, nil), 404, "")
	// Types, zones and the service settings are shared.
	if got := decode[[]obj](t, e.Do("GET", "/api/openstack-volume-types/", eve, nil)); len(got) == 0 {
		t.Error("eve sees no volume types")
	}
	want(t, e.Do("GET", path(v["service_settings"]), eve, nil), 200, "")
	// Eve's own instance is not a target for our volume: it is invisible to us.
	eveProject := decode[obj](t, e.Do("POST", "/api/v1/projects", testenv.Bearer(e.AdminToken), obj{"organisation_id": org["id"], "name": "p"}))
	evm := newInstance(t, e, eve, eveProject["id"].(string), "evm", "running")
	want(t, e.Do("POST", vpath+"attach/", auth, obj{"instance": evm["url"]}), 400,
		`{"instance": ["Volume and instance should belong to the same service and project."]}`)

	// A viewer sees the volume but may not change it, whatever its state.
	vic := tok(user(t, e, "vic", "projects", project, "viewer"))
	want(t, e.Do("GET", vpath, vic, nil), 200, "")
	want(t, e.Do("PATCH", vpath, vic, obj{"name": "x"}), 403, `{"detail": "You do not have permission to perform this action."}`)
	want(t, e.Do("POST", vpath+"detach/", vic, nil), 403, "")
	// 401 first, then 405 before the lookup.
	want(t, e.Do("GET", vpath, "", nil), 401, `{"detail": "Authentication credentials were not provided."}`)
	want(t, e.Do("DELETE", "/api/openstack-volumes/"+strings.Repeat("0", 32)+"/", auth, nil), 405, "")
	want(t, e.Do("GET", "/api/openstack-volumes/"+strings.Repeat("0", 32)+"/", auth, nil), 404, "")
	want(t, e.Do("GET", "/api/openstack-volumes/not-a-uuid/", auth, nil), 404, `{"detail": "Not found."}`)
}

// TestOpenStackVolumePages checks X-Result-Count and Link for 0, 1 and 25
// volumes with page_size 10, and the 404 for a page out of range.
func TestOpenStackVolumePages(t *testing.T) {
	e := start(t)
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	project := dashed(c.project["uuid"].(string))
	list := func(query string) testenv.Response {
		r := e.Do("GET", "/api/openstack-volumes/"+query, auth, nil)
		want(t, r, 200, "")
		return r
	}
	u := func(query string) string { return "<" + e.URL("/api/openstack-volumes/"+query) + ">" }

	r := list("?page_size=10")
	if r.Header.Get("X-Result-Count") != "0" || strings.TrimSpace(string(r.Body)) != "[]" {
		t.Fatalf("empty: %s %s", r.Header.Get("X-Result-Count"), r.Body)
	}
	if got, exp := r.Header.Get("Link"), u("?page_size=10")+`; rel="first", `+u("?page_size=10")+`; rel="last"`; got != exp {
		t.Errorf("empty Link\n got %s\nwant %s", got, exp)
	}
	want(t, e.Do("GET", "/api/openstack-volumes/?page=2", auth, nil), 404, `{"detail": "Invalid page."}`)

	mk := func(i int) {
		want(t, e.Do("POST", "/api/v1/volumes", testenv.Bearer(e.AdminToken),
			obj{"project_id": project, "name": fmt.Sprintf("v%02d", i), "size": 1 << 30}), 202, "")
	}
	mk(0)
	r = list("?page_size=10")
	if r.Header.Get("X-Result-Count") != "1" || len(decode[[]obj](t, r)) != 1 {
		t.Fatalf("one: %s", r.Header.Get("X-Result-Count"))
	}
	if got, exp := r.Header.Get("Link"), u("?page_size=10")+`; rel="first", `+u("?page_size=10")+`; rel="last"`; got != exp {
		t.Errorf("one Link\n got %s\nwant %s", got, exp)
	}
	for i := 1; i < 25; i++ {
		mk(i)
	}
	r = list("?page_size=10&page=2")
	items := decode[[]obj](t, r)
	if r.Header.Get("X-Result-Count") != "25" || len(items) != 10 || items[0]["name"] != "v10" {
		t.Fatalf("page 2: %s, %d items", r.Header.Get("X-Result-Count"), len(items))
	}
	exp := u("?page_size=10") + `; rel="first", ` + u("?page_size=10") + `; rel="prev", ` +
		u("?page=3&page_size=10") + `; rel="next", ` + u("?page=3&page_size=10") + `; rel="last"`
	if got := r.Header.Get("Link"); got != exp {
		t.Errorf("page 2 Link\n got %s\nwant %s", got, exp)
	}
	r = list("?page_size=10&page=3")
	if n := len(decode[[]obj](t, r)); n != 5 {
		t.Errorf("page 3: %d items", n)
	}
	want(t, e.Do("GET", "/api/openstack-volumes/?page_size=10&page=4", auth, nil), 404, `{"detail": "Invalid page."}`)
	want(t, e.Do("GET", "/api/openstack-volumes/?page=0", auth, nil), 404, `{"detail": "Invalid page."}`)
	r = list("?o=-name&page_size=1")
	if items := decode[[]obj](t, r); items[0]["name"] != "v24" {
		t.Errorf("o=-name: %v", items[0]["name"])
	}
	want(t, e.Do("GET", "/api/openstack-volumes/?o=bogus", auth, nil), 400,
		`{"o": ["Select a valid choice. bogus is not one of the available choices."]}`)
}

// TestOpenStackVolumeBusyStates catches volumes while their creation job
// runs (it is quick, so the test retries until it sees one) and checks
// §8's 409 bodies for update and pull.
func TestOpenStackVolumeBusyStates(t *testing.T) {
	e := start(t)
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	project := dashed(c.project["uuid"].(string))
	var sawUpdate, sawPull bool
	for i := 0; i < 40 && !(sawUpdate && sawPull); i++ {
		r := e.Do("POST", "/api/v1/volumes", testenv.Bearer(e.AdminToken), obj{"project_id": project, "name": fmt.Sprintf("b%d", i), "size": 64 << 30})
		want(t, r, 202, "")
		id := strings.ReplaceAll(decode[obj](t, r)["volume"].(obj)["id"].(string), "-", "")
		vpath := "/api/openstack-volumes/" + id + "/"
		var up, pull testenv.Response
		if i%2 == 0 {
			up = e.Do("PATCH", vpath, auth, obj{"name": ""})
			pull = e.Do("POST", vpath+"pull/", auth, nil)
		} else {
			pull = e.Do("POST", vpath+"pull/", auth, nil)
			up = e.Do("PATCH", vpath, auth, obj{"name": ""})
		}
		switch up.Status {
		case 409:
			// The state validator wins over the blank name (§4).
			want(t, up, 409, `{"detail": "Valid states for operation: OK."}`)
			sawUpdate = true
		default:
			want(t, up, 400, `{"name": ["This field may not be blank."]}`)
		}
		if pull.Status == 409 {
			want(t, pull, 409, `{"detail": "Valid states for operation: OK, ERRED."}`)
			sawPull = true
		} else {
			want(t, pull, 202, "")
		}
	}
	if !sawUpdate || !sawPull {
		t.Skipf("never caught a volume being created (update %v, pull %v)", sawUpdate, sawPull)
	}
}

// TestOpenStackSeedExamples sends each of the seed's `http` examples as
// httpie does: `key=value` items become JSON strings (so disk_size arrives
// as "20480"), and a request without items has no body at all.
func TestOpenStackSeedExamples(t *testing.T) {
	e := start(t)
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	project := dashed(c.project["uuid"].(string))
	_, v := orderVolume(t, e, auth, c, "seed", 2)
	vpath := "/api/openstack-volumes/" + v["uuid"].(string) + "/"
	// The seed's path uses the dashed form; it is accepted too.
	want(t, e.Do("GET", "/api/openstack-volumes/"+dashed(v["uuid"].(string))+"/", auth, nil), 200, "")
	want(t, e.Do("GET", "/api/openstack-volumes/", auth, nil), 200, "")
	want(t, e.Do("POST", vpath+"pull/", auth, nil), 202, "")
	want(t, e.Do("PUT", vpath, auth, obj{"name": "my-awesome-openstack-volume"}), 200, "")
	r := e.Do("PATCH", vpath, auth, nil)
	want(t, r, 200, "")
	hasFields(t, "PATCH answer", decode[obj](t, r), seedVolumeFields)
	want(t, e.Do("POST", vpath+"extend/", auth, obj{"disk_size": "20480"}), 200, "")
	v = waitFor(t, e, auth, vpath, stateIs("OK", "available"))
	if v["size"] != float64(20480) {
		t.Fatalf("size %v", v["size"])
	}
	vm := newInstance(t, e, auth, project, "vm", "stopped")
	want(t, e.Do("POST", vpath+"attach/", auth, obj{"instance": vm["url"]}), 200, "")
	waitFor(t, e, auth, vpath, stateIs("OK", "in-use"))
	want(t, e.Do("POST", vpath+"detach/", auth, nil), 200, "")
	waitFor(t, e, auth, vpath, stateIs("OK", "available"))
	types := decode[[]obj](t, e.Do("GET", "/api/openstack-volume-types/", auth, nil))
	other := types[0]
	if other["name"] == v["type_name"] {
		other = types[1]
	}
	want(t, e.Do("POST", vpath+"retype/", auth, obj{"type": other["url"]}), 200, "")
	// A type link to another collection is DRF's incorrect match.
	want(t, e.Do("POST", vpath+"retype/", auth, obj{"type": "https://api.example.com/api/type/a1b2c3d4-e5f6-7890-abcd-ef1234567890/"}), 400,
		`{"type": ["Invalid hyperlink - Incorrect URL match."]}`)
	r = e.Do("POST", vpath+"snapshot/", auth, obj{"name": "my-awesome-openstack-volume"})
	want(t, r, 201, "")
	waitFor(t, e, auth, path(decode[obj](t, r)["url"]), stateIs("OK", ""))
	want(t, e.Do("POST", vpath+"unlink/", auth, nil), 204, "")
	// The read-only endpoints the hyperlinks point to list and retrieve.
	for _, p := range []string{"/api/openstack-volume-types/", "/api/openstack-volume-availability-zones/",
		"/api/openstack-instances/", "/api/openstack-tenants/", "/api/service-settings/", "/api/openstack-snapshots/"} {
		r := e.Do("GET", p, auth, nil)
		want(t, r, 200, "")
		items := decode[[]obj](t, r)
		if len(items) == 0 || r.Header.Get("X-Result-Count") == "" {
			t.Fatalf("%s: %d items", p, len(items))
		}
		want(t, e.Do("GET", path(items[0]["url"]), auth, nil), 200, "")
	}
}
