package waldur_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

// nullRefs lists the uuid- and url-typed fields of m (and of the objects
// inside it) that are null: a typed client parses a present uuid key as a
// uuid, so each one fails the whole object.
func nullRefs(at string, v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if val == nil && (k == "url" || strings.HasSuffix(k, "_uuid") || strings.HasSuffix(k, "_url") ||
				strings.Contains(" project customer service_settings tenant instance type availability_zone source_snapshot source_volume offering plan category settings scope volume image ", " "+k+" ")) {
				out = append(out, at+"."+k)
			}
			out = append(out, nullRefs(at+"."+k, val)...)
		}
	case []any:
		for _, el := range x {
			out = append(out, nullRefs(at+"[]", el)...)
		}
	}
	return out
}

// TestUUIDAndURLFieldsAreValuesOrLeftOut: the provider of an order is a
// real customer, and no uuid or url field of an order, a marketplace
// resource, a volume or a snapshot is null.
func TestUUIDAndURLFieldsAreValuesOrLeftOut(t *testing.T) {
	e := start(t)
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	order, vol := orderVolume(t, e, auth, c, "typed", 1)
	r := e.Do("POST", "/api/openstack-volumes/"+vol["uuid"].(string)+"/snapshot/", auth, obj{"name": "s1"})
	want(t, r, 201, "")
	snap := decode[obj](t, r)

	prov, ok := order["provider_uuid"].(string)
	if !ok || !hexUUID.MatchString(prov) {
		t.Fatalf("provider_uuid = %v", order["provider_uuid"])
	}
	cust := decode[obj](t, e.Do("GET", "/api/customers/"+prov+"/", auth, nil))
	if cust["name"] != order["provider_name"] {
		t.Errorf("provider %v is customer %v", order["provider_name"], cust["name"])
	}
	if snap["source_volume_marketplace_uuid"] != order["marketplace_resource_uuid"] {
		t.Errorf("snapshot's source_volume_marketplace_uuid %v, want the volume's resource %v",
			snap["source_volume_marketplace_uuid"], order["marketplace_resource_uuid"])
	}
	if _, has := vol["instance_marketplace_uuid"]; has {
		t.Errorf("a detached volume has instance_marketplace_uuid %v", vol["instance_marketplace_uuid"])
	}
	reads := map[string]string{
		"order":     "/api/marketplace-orders/" + order["uuid"].(string) + "/",
		"orders":    "/api/marketplace-orders/",
		"resource":  "/api/marketplace-resources/" + order["marketplace_resource_uuid"].(string) + "/",
		"resources": "/api/marketplace-resources/",
		"volume":    "/api/openstack-volumes/" + vol["uuid"].(string) + "/",
		"volumes":   "/api/openstack-volumes/",
		"snapshot":  "/api/openstack-snapshots/" + snap["uuid"].(string) + "/",
		"offerings": "/api/marketplace-public-offerings/",
		"instances": "/api/openstack-instances/",
		"settings":  "/api/service-settings/",
	}
	newInstance(t, e, auth, dashed(c.project["uuid"].(string)), "vm", "running")
	for what, p := range reads {
		r := e.Do("GET", p, auth, nil)
		want(t, r, 200, "")
		var v any
		r.JSON(t, &v)
		if nulls := nullRefs(what, v); len(nulls) > 0 {
			t.Errorf("null uuid or url fields: %v", nulls)
		}
	}
}

// TestVolumeOrderInWaldurShape orders a volume as Waldur's OpenStack.Volume
// offering defines it (§6.4): size in MiB, type and availability zone as
// hyperlinks, no limits. A bad order is refused when it is placed.
func TestVolumeOrderInWaldurShape(t *testing.T) {
	e := start(t)
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	types := decode[[]obj](t, e.Do("GET", "/api/openstack-volume-types/?name=nvme", auth, nil))
	zones := decode[[]obj](t, e.Do("GET", "/api/openstack-volume-availability-zones/", auth, nil))
	if len(types) != 1 || len(zones) == 0 {
		t.Fatalf("types %v zones %v", types, zones)
	}
	order := func(attrs obj) testenv.Response {
		return e.Do("POST", "/api/marketplace-orders/", auth, obj{"project": c.project["url"], "offering": c.volume["url"],
			"plan": c.volumePlan["url"], "attributes": attrs})
	}
	r := order(obj{"name": "waldur-shaped", "size": 2048, "type": types[0]["url"], "availability_zone": zones[0]["url"],
		"description": "ordered as Waldur does"})
	want(t, r, 201, "")
	o := waitOrder(t, e, auth, decode[obj](t, r)["uuid"].(string), "done", "erred")
	if o["state"] != "done" {
		t.Fatalf("order %v: %v", o["state"], o["error_message"])
	}
	vol := decode[obj](t, e.Do("GET", "/api/openstack-volumes/"+o["resource_uuid"].(string)+"/", auth, nil))
	if vol["size"] != 2048.0 || vol["type_name"] != "nvme" || vol["availability_zone_name"] != zones[0]["name"] ||
		vol["description"] != "ordered as Waldur does" || vol["name"] != "waldur-shaped" {
		t.Errorf("volume %v %v %v %v %v", vol["size"], vol["type_name"], vol["availability_zone_name"], vol["description"], vol["name"])
	}

	before := len(decode[[]obj](t, e.Do("GET", "/api/marketplace-orders/", auth, nil)))
	for _, tc := range []struct {
		attrs obj
		want  string
	}{
		{obj{"name": "no-size"}, `{"attributes": ["a volume order needs attributes.size in MiB or limits.storage in GB"]}`},
		{obj{"name": "bad-size", "size": "big"}, `{"attributes": ["attributes.size must be a positive whole number of MiB"]}`},
		{obj{"name": "bad-type", "size": 1024, "type": "http://h/api/openstack-volume-types/0123456789abcdef0123456789abcdef/"},
			`{"attributes": {"type": ["Invalid hyperlink - Object does not exist."]}}`},
		{obj{"name": "bad-zone", "size": 1024, "availability_zone": "http://h/api/projects/0123456789abcdef0123456789abcdef/"},
			`{"attributes": {"availability_zone": ["Invalid hyperlink - Incorrect URL match."]}}`},
	} {
		want(t, order(tc.attrs), 400, tc.want)
	}
	// Object storage is checked when ordered too: a first bucket's name
	// must be a bucket name, and the limit is needed.
	storage := func(attrs obj, limits obj) testenv.Response {
		return e.Do("POST", "/api/marketplace-orders/", auth, obj{"project": c.project["url"], "offering": c.storage["url"],
			"plan": c.storagePlan["url"], "attributes": attrs, "limits": limits})
	}
	r = storage(obj{"name": "Not_A_Bucket"}, obj{"storage": 1})
	if r.Status != 400 || !strings.Contains(string(r.Body), "is not a valid bucket name") {
		t.Errorf("bad bucket name: %d %s", r.Status, r.Body)
	}
	want(t, storage(obj{"name": "fine-name"}, nil), 400, `{"limits": ["an object-storage order needs limits.storage in GB"]}`)
	if after := len(decode[[]obj](t, e.Do("GET", "/api/marketplace-orders/", auth, nil))); after != before {
		t.Errorf("refused orders were recorded: %d orders, had %d", after, before)
	}
}

// TestUnlinkRemovesAtOnce: Waldur's unlink deletes the record, so right
// after its 204 no read finds the volume, attached or not.
func TestUnlinkRemovesAtOnce(t *testing.T) {
	e := start(t)
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	vm := newInstance(t, e, auth, dashed(c.project["uuid"].(string)), "vm", "stopped")
	for i, attach := range []bool{false, true, false} {
		_, vol := orderVolume(t, e, auth, c, "unlinked", 1)
		id := vol["uuid"].(string)
		vpath := "/api/openstack-volumes/" + id + "/"
		if attach {
			want(t, e.Do("POST", vpath+"attach/", auth, obj{"instance": vm["url"]}), 200, "")
			waitFor(t, e, auth, vpath, stateIs("OK", "in-use"))
		}
		want(t, e.Do("POST", vpath+"unlink/", auth, nil), 204, "")
		want(t, e.Do("GET", vpath, auth, nil), 404, "")
		if l := listOf(t, e, auth, "?uuid="+id); len(l) != 0 {
			t.Errorf("volume %d: still listed after unlink: %v", i, l[0]["state"])
		}
		want(t, e.Do("GET", "/api/v1/volumes/"+dashed(id), testenv.Bearer(e.AdminToken), nil), 404, "")
	}
}

// TestVolumeActionStatusSetting: the seed's 200 stays the default (the
// other tests check it); the setting selects current Waldur's 202.
func TestVolumeActionStatusSetting(t *testing.T) {
	e := start(t, func(c *config.Config) { c.WaldurActionStatus = 202 })
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	vm := newInstance(t, e, auth, dashed(c.project["uuid"].(string)), "vm", "stopped")
	_, vol := orderVolume(t, e, auth, c, "v202", 1)
	vpath := path(vol["url"])
	want(t, e.Do("POST", vpath+"extend/", auth, obj{"disk_size": 2048}), 202, `{"status": "extend was scheduled"}`)
	waitFor(t, e, auth, vpath, stateIs("OK", "available"))
	types := decode[[]obj](t, e.Do("GET", "/api/openstack-volume-types/?name=hdd", auth, nil))
	want(t, e.Do("POST", vpath+"retype/", auth, obj{"type": types[0]["url"]}), 202, `{"status": "retype was scheduled"}`)
	waitFor(t, e, auth, vpath, stateIs("OK", "available"))
	want(t, e.Do("POST", vpath+"attach/", auth, obj{"instance": vm["url"]}), 202, `{"status": "attach was scheduled"}`)
	waitFor(t, e, auth, vpath, stateIs("OK", "in-use"))
	want(t, e.Do("POST", vpath+"detach/", auth, nil), 202, `{"status": "detach was scheduled"}`)
}

// getWithHost sends GET path with the given Host header through e's
// checking transport.
func getWithHost(t *testing.T, e *testenv.Env, p, host, auth string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", e.URL(p), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := (&http.Client{Transport: e.Transport}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestPublicURLAndAllowedHosts: with a public URL every absolute link
// uses it whatever Host a client sends; with allowed hosts another Host
// is refused (health probes excepted).
func TestPublicURLAndAllowedHosts(t *testing.T) {
	e := start(t, func(c *config.Config) {
		c.PublicURL = "https://cloud.example.com/stowage"
		c.AllowedHosts = []string{"cloud.example.com", ".internal.example"}
	})
	auth := tok(e.AdminToken)
	for _, host := range []string{"cloud.example.com", "CLOUD.example.com:8443", "node1.internal.example"} {
		status, h, body := getWithHost(t, e, "/api/projects/?page_size=1", host, auth)
		if status != 200 {
			t.Fatalf("Host %s: %d %s", host, status, body)
		}
		var ps []obj
		if err := json.Unmarshal(body, &ps); err != nil || len(ps) != 1 {
			t.Fatalf("projects %s", body)
		}
		if u := ps[0]["url"].(string); !strings.HasPrefix(u, "https://cloud.example.com/stowage/api/projects/") {
			t.Errorf("Host %s: url %s", host, u)
		}
		if l := h.Get("Link"); !strings.HasPrefix(l, "<https://cloud.example.com/stowage/api/projects/?page_size=1>") {
			t.Errorf("Host %s: Link %s", host, l)
		}
	}
	for _, host := range []string{"evil.example", "cloud.example.com.evil.example", "internal.example.evil"} {
		if status, _, body := getWithHost(t, e, "/api/projects/", host, auth); status != 400 {
			t.Errorf("Host %s: %d %s", host, status, body)
		}
	}
	if status, _, _ := getWithHost(t, e, "/healthz", "10.0.0.7:8080", ""); status != 200 {
		t.Errorf("health probe by address: %d", status)
	}
}

// TestLoginIsGetOrCreate: POST /api-auth/password/ hands out Waldur's
// 40-hex token and the same one each time, until it is revoked; then a
// new one.
func TestLoginIsGetOrCreate(t *testing.T) {
	e := start(t)
	pw := strings.TrimSpace(readFile(t, e.DataDir+"/admin-password"))
	login := func() string {
		t.Helper()
		r := e.Do("POST", "/api-auth/password/", "", obj{"username": "admin", "password": pw})
		want(t, r, 200, "")
		return decode[obj](t, r)["token"].(string)
	}
	first := login()
	if len(first) != 40 || strings.Trim(first, "0123456789abcdef") != "" {
		t.Fatalf("token %q is not 40 hex characters", first)
	}
	if again := login(); again != first {
		t.Fatalf("second login gave %q, want the same %q", again, first)
	}
	me := decode[obj](t, e.Do("GET", "/api/users/me/", tok(first), nil))
	if me["username"] != "admin" {
		t.Fatalf("me %v", me)
	}
	var list struct {
		Items []obj `json:"items"`
	}
	e.Do("GET", "/api/v1/tokens", testenv.Bearer(e.AdminToken), nil).JSON(t, &list)
	n := 0
	for _, tk := range list.Items {
		if tk["name"] == "waldur login" {
			n++
			want(t, e.Do("DELETE", "/api/v1/tokens/"+tk["id"].(string), testenv.Bearer(e.AdminToken), nil), 204, "")
		}
	}
	if n != 1 {
		t.Fatalf("%d login tokens after two logins, want 1", n)
	}
	want(t, e.Do("GET", "/api/users/me/", tok(first), nil), 401, `{"detail": "Invalid token."}`)
	next := login()
	if next == first || len(next) != 40 {
		t.Fatalf("login after revocation gave %q (the revoked one was %q)", next, first)
	}
	want(t, e.Do("GET", "/api/users/me/", tok(next), nil), 200, "")
}
