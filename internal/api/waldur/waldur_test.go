package waldur_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stowage/stowage/internal/testenv"
)

type obj = map[string]any

func tok(t string) string { return "Token " + t }

func want(t *testing.T, r testenv.Response, status int, body string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if body == "" {
		return
	}
	var got, exp any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("body %q is not JSON", r.Body)
	}
	if err := json.Unmarshal([]byte(body), &exp); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(exp, got); diff != "" {
		t.Fatalf("body differs (-want +got):\n%s", diff)
	}
}

func decode[T any](t *testing.T, r testenv.Response) T {
	t.Helper()
	var v T
	r.JSON(t, &v)
	return v
}

// catalog is what a client learns from the API before ordering.
type catalog struct {
	project, storage, storagePlan, volume, volumePlan obj
}

func readCatalog(t *testing.T, e *testenv.Env, auth string) catalog {
	t.Helper()
	var c catalog
	ps := decode[[]obj](t, e.Do("GET", "/api/projects/", auth, nil))
	if len(ps) == 0 {
		t.Fatal("no projects")
	}
	c.project = ps[0]
	for _, o := range decode[[]obj](t, e.Do("GET", "/api/marketplace-public-offerings/?page_size=100", auth, nil)) {
		plan := o["plans"].([]any)[0].(obj)
		switch o["type"] {
		case "Marketplace.Basic":
			c.storage, c.storagePlan = o, plan
		case "OpenStack.Volume":
			if c.volume == nil {
				c.volume, c.volumePlan = o, plan
			}
		}
	}
	if c.storage == nil || c.volume == nil {
		t.Fatal("default catalog lacks object storage or volume offerings")
	}
	return c
}

var hexUUID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestSeedOrderRequest(t *testing.T) {
	e := start(t)
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	// The seed sends bare uuids; Waldur clients send hyperlinks. Both work.
	for _, body := range []obj{
		{"project": c.project["uuid"], "offering": c.storage["uuid"], "plan": c.storagePlan["uuid"],
			"attributes": obj{"name": "my-storage"}, "limits": obj{"storage": 10}},
		{"project": c.project["url"], "offering": c.storage["url"], "plan": c.storagePlan["url"],
			"attributes": obj{"name": "my-storage-2"}, "limits": obj{"storage": 10}, "type": "Create", "accepting_terms_of_service": true},
	} {
		r := e.Do("POST", "/api/marketplace-orders/", auth, body)
		want(t, r, 201, "")
		o := decode[obj](t, r)
		for _, f := range []string{"uuid", "offering_uuid", "plan_uuid", "project_uuid", "marketplace_resource_uuid", "customer_uuid"} {
			if s, _ := o[f].(string); !hexUUID.MatchString(s) {
				t.Errorf("%s = %v, want 32 hex characters", f, o[f])
			}
		}
		if o["state"] != "executing" || o["type"] != "Create" || o["cost"] != "0.2000000000" || o["offering_type"] != "Marketplace.Basic" {
			t.Errorf("order %v", o)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.999999Z", o["created"].(string)); err != nil {
			t.Errorf("created %q: %v", o["created"], err)
		}
		if !strings.HasPrefix(o["url"].(string), "http://"+e.Addrs.API+"/api/marketplace-orders/") {
			t.Errorf("url %v", o["url"])
		}
		got := decode[obj](t, e.Do("GET", "/api/marketplace-orders/"+o["uuid"].(string)+"/", auth, nil))
		if got["uuid"] != o["uuid"] || got["attributes"].(obj)["name"] != body["attributes"].(obj)["name"] {
			t.Errorf("retrieve %v", got)
		}
	}
}

func TestOrderValidation(t *testing.T) {
	e := start(t)
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	good := func(changes obj) obj {
		b := obj{"project": c.project["url"], "offering": c.storage["url"], "plan": c.storagePlan["url"],
			"attributes": obj{"name": "x"}, "limits": obj{"storage": 10}}
		for k, v := range changes {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	cases := []struct {
		name string
		body any
		want string
	}{
		{"no project", good(obj{"project": nil}), `{"project": ["This field is required."]}`},
		{"no offering", good(obj{"offering": nil}), `{"offering": ["This field is required."]}`},
		{"unknown project", good(obj{"project": "http://h/api/projects/0123456789abcdef0123456789abcdef/"}), `{"project": ["Invalid hyperlink - Object does not exist."]}`},
		{"wrong route", good(obj{"project": "http://h/api/customers/0123456789abcdef0123456789abcdef/"}), `{"project": ["Invalid hyperlink - Incorrect URL match."]}`},
		{"not a url", good(obj{"offering": 42}), `{"offering": ["Incorrect type. Expected URL string, received int."]}`},
		{"provider plan url", good(obj{"plan": "http://h/api/marketplace-plans/" + c.storagePlan["uuid"].(string) + "/"}), `{"plan": ["Invalid hyperlink - Incorrect URL match."]}`},
		{"plan of another offering", good(obj{"plan": c.volumePlan["url"]}), `{"plan": ["This plan is not available for selected offering."]}`},
		{"limit not int", good(obj{"limits": obj{"storage": "ten"}}), `{"limits": {"storage": ["A valid integer is required."]}}`},
		{"unknown limit", good(obj{"limits": obj{"cpu": 1, "ram": 2}}), `{"limits": ["Invalid types: cpu, ram"]}`},
		{"limit too big", good(obj{"limits": obj{"storage": 1 << 40}}), `{"limits": ["The limit storage value cannot be more than 102400."]}`},
		{"limit too small", good(obj{"limits": obj{"storage": 0}}), `{"limits": ["The limit storage value cannot be less than 1."]}`},
		{"bad type", good(obj{"type": "Destroy"}), `{"type": ["\"Destroy\" is not a valid choice."]}`},
		{"no name", good(obj{"attributes": obj{}}), `{"attributes": ["attributes.name is required."]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { want(t, e.Do("POST", "/api/marketplace-orders/", auth, tc.body), 400, tc.want) })
	}
	r := e.DoHeaders("POST", "/api/marketplace-orders/", http.Header{"Authorization": {auth}, "Content-Type": {"text/plain"}}, "x")
	want(t, r, 415, `{"detail": "Unsupported media type \"text/plain\" in request."}`)
	r = e.Do("POST", "/api/marketplace-orders/", auth, `{"project": `)
	if r.Status != 400 || !strings.Contains(string(r.Body), "JSON parse error") {
		t.Fatalf("bad JSON: %d %s", r.Status, r.Body)
	}
	if n := len(decode[[]obj](t, e.Do("GET", "/api/marketplace-orders/", auth, nil))); n != 0 {
		t.Fatalf("invalid requests created %d orders", n)
	}
}

func TestAuthAndErrors(t *testing.T) {
	e := start(t)
	r := e.Do("GET", "/api/marketplace-orders/", "", nil)
	want(t, r, 401, `{"detail": "Authentication credentials were not provided."}`)
	if r.Header.Get("WWW-Authenticate") != "Token" {
		t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
	}
	want(t, e.Do("GET", "/api/marketplace-orders/", "Token stw_nope", nil), 401, `{"detail": "Invalid token."}`)
	want(t, e.Do("GET", "/api/marketplace-orders/", "token "+e.AdminToken, nil), 200, "[]")
	want(t, e.Do("GET", "/api/marketplace-orders/not-a-uuid/", tok(e.AdminToken), nil), 404, `{"detail": "Not found."}`)
	want(t, e.Do("GET", "/api/marketplace-orders/0123456789abcdef0123456789abcdef/", tok(e.AdminToken), nil), 404, `{"detail": "Not found."}`)
	want(t, e.Do("POST", "/api/marketplace-resources/", tok(e.AdminToken), obj{}), 405, `{"detail": "Method \"POST\" not allowed."}`)
	want(t, e.Do("GET", "/api/marketplace-orders/?page=9", tok(e.AdminToken), nil), 404, `{"detail": "Invalid page."}`)
	want(t, e.Do("GET", "/api/marketplace-orders/?project_uuid=zz", tok(e.AdminToken), nil), 400, `{"project_uuid": ["Enter a valid UUID."]}`)

	want(t, e.Do("POST", "/api-auth/password/", "", obj{"username": "admin"}), 400, `{"password": ["This field is required."]}`)
	want(t, e.Do("POST", "/api-auth/password/", "", obj{"username": "admin", "password": "wrong"}), 401, `{"detail": "Invalid username/password."}`)
	pw := strings.TrimSpace(readFile(t, e.DataDir+"/admin-password"))
	r = e.Do("POST", "/api-auth/password/", "", obj{"username": "admin", "password": pw})
	want(t, r, 200, "")
	tk := decode[obj](t, r)["token"].(string)
	me := decode[obj](t, e.Do("GET", "/api/users/me/", tok(tk), nil))
	if me["username"] != "admin" || me["is_staff"] != true {
		t.Fatalf("me %v", me)
	}
}

func TestPaginationHeaders(t *testing.T) {
	e := start(t)
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	for i := 0; i < 5; i++ {
		want(t, e.Do("POST", "/api/marketplace-orders/", auth, obj{"project": c.project["url"], "offering": c.volume["url"],
			"plan": c.volumePlan["url"], "attributes": obj{"name": fmt.Sprint("v", i)}, "limits": obj{"storage": 1}}), 201, "")
	}
	r := e.Do("GET", "/api/marketplace-orders/?page_size=2&page=2&field=uuid", auth, nil)
	want(t, r, 200, "")
	if r.Header.Get("X-Result-Count") != "5" {
		t.Errorf("X-Result-Count %q", r.Header.Get("X-Result-Count"))
	}
	base := "http://" + e.Addrs.API + "/api/marketplace-orders/?field=uuid"
	wantLink := fmt.Sprintf(`<%s&page_size=2>; rel="first", <%s&page_size=2>; rel="prev", <%s&page=3&page_size=2>; rel="next", <%s&page=3&page_size=2>; rel="last"`,
		base, base, base, base)
	if got := r.Header.Get("Link"); got != wantLink {
		t.Errorf("Link\n got %s\nwant %s", got, wantLink)
	}
	items := decode[[]obj](t, r)
	if len(items) != 2 || len(items[0]) != 1 {
		t.Errorf("page 2 with field=uuid: %v", items)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
