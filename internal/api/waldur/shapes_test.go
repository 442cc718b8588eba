package waldur_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

// Every response of every Waldur route the suite provokes is checked
// against the shapes of Waldur's published OpenAPI schema (as the
// generated client, waldur/py-client, parses them; see
// testdata/waldur-openapi-shapes.json): the type of every field, the
// fields the schema requires, uuid, url and datetime formats, enums, and
// null only where the schema allows it. A typed client raises on the whole
// response when one field is wrong, so one violation fails the test that
// provoked it.

// fieldShape is one field: the JSON types it may take (string, url, uuid,
// datetime, date, integer, number, boolean, object, enum:E, ref:S,
// array:T) and whether null is allowed.
type fieldShape struct {
	Types    []string `json:"types"`
	Nullable bool     `json:"nullable"`
}

type shape struct {
	Required []string              `json:"required"`
	Fields   map[string]fieldShape `json:"fields"`
}

type shapeBook struct {
	Enums   map[string][]string `json:"enums"`
	Schemas map[string]shape    `json:"schemas"`
}

// cinderStates are the volume runtime states of the spec (§5): the schema
// types runtime_state as a free string, Cinder's statuses are what Waldur
// copies into it.
var cinderStates = []string{"creating", "available", "reserved", "attaching", "detaching", "in-use", "maintenance",
	"deleting", "awaiting-transfer", "error", "error_deleting", "backing-up", "restoring-backup", "error_backing-up",
	"error_restoring", "error_extending", "downloading", "uploading", "retyping", "extending", "deleted", ""}

func loadShapes(t testing.TB) *shapeBook {
	t.Helper()
	b, err := os.ReadFile("testdata/waldur-openapi-shapes.json")
	if err != nil {
		t.Fatal(err)
	}
	var sb shapeBook
	if err := json.Unmarshal(b, &sb); err != nil {
		t.Fatal(err)
	}
	// The answers of actions and login are not models of their own in the
	// schema; their shapes are the spec's.
	str := fieldShape{Types: []string{"string"}}
	sb.Schemas["Status"] = shape{Required: []string{"status"}, Fields: map[string]fieldShape{"status": str}}
	sb.Schemas["Detail"] = shape{Required: []string{"detail"}, Fields: map[string]fieldShape{"detail": str}}
	sb.Schemas["OrderUUID"] = shape{Required: []string{"order_uuid"}, Fields: map[string]fieldShape{"order_uuid": {Types: []string{"uuid"}}}}
	sb.Schemas["AuthToken"] = shape{Required: []string{"token"}, Fields: map[string]fieldShape{"token": {Types: []string{"token"}}}}
	sb.Enums["CinderStates"] = cinderStates
	for _, s := range []string{"OpenStackVolume", "OpenStackSnapshot"} {
		sb.Schemas[s].Fields["runtime_state"] = fieldShape{Types: []string{"enum:CinderStates"}}
	}
	r := sb.Schemas["OpenStackSnapshotRestoration"]
	r.Fields["volume_state"] = fieldShape{Types: []string{"enum:CoreStates"}}
	r.Fields["volume_runtime_state"] = fieldShape{Types: []string{"enum:CinderStates"}}
	return &sb
}

// shapeRoute names the body a route answers with on success: a schema,
// "[]" + schema for a bare list, or "" for no body.
type shapeRoute struct {
	method  string
	pattern string // path with * for one segment
	body    string
}

var shapeRoutes = []shapeRoute{
	{"POST", "/api-auth/password/", "AuthToken"},
	{"GET", "/api/users/me/", "User"},
	{"GET", "/api/customers/", "[]Customer"},
	{"GET", "/api/customers/*/", "Customer"},
	{"GET", "/api/projects/", "[]Project"},
	{"GET", "/api/projects/*/", "Project"},
	{"GET", "/api/marketplace-categories/", "[]MarketplaceCategory"},
	{"GET", "/api/marketplace-categories/*/", "MarketplaceCategory"},
	{"GET", "/api/marketplace-public-offerings/", "[]PublicOfferingDetails"},
	{"GET", "/api/marketplace-public-offerings/*/", "PublicOfferingDetails"},
	{"GET", "/api/marketplace-public-offerings/*/plans/", "[]BasePublicPlan"},
	{"GET", "/api/marketplace-public-offerings/*/plans/*/", "BasePublicPlan"},
	{"GET", "/api/marketplace-plans/", "[]BasePublicPlan"},
	{"GET", "/api/marketplace-plans/*/", "BasePublicPlan"},
	{"GET", "/api/marketplace-orders/", "[]OrderDetails"},
	{"POST", "/api/marketplace-orders/", "OrderDetails"},
	{"GET", "/api/marketplace-orders/*/", "OrderDetails"},
	{"DELETE", "/api/marketplace-orders/*/", ""},
	{"POST", "/api/marketplace-orders/*/cancel/", ""},
	{"POST", "/api/marketplace-orders/*/unlink/", ""},
	{"POST", "/api/marketplace-orders/*/*/", "Detail"},
	{"GET", "/api/marketplace-component-usages/", "[]ComponentUsage"},
	{"GET", "/api/marketplace-component-usages/*/", "ComponentUsage"},
	{"GET", "/api/marketplace-resources/", "[]Resource"},
	{"GET", "/api/marketplace-resources/*/", "Resource"},
	{"POST", "/api/marketplace-resources/*/*/", "OrderUUID"},
	{"GET", "/api/openstack-volumes/", "[]OpenStackVolume"},
	{"GET", "/api/openstack-volumes/*/", "OpenStackVolume"},
	{"PUT", "/api/openstack-volumes/*/", "OpenStackVolume"},
	{"PATCH", "/api/openstack-volumes/*/", "OpenStackVolume"},
	{"POST", "/api/openstack-volumes/*/pull/", "Detail"},
	{"POST", "/api/openstack-volumes/*/unlink/", ""},
	{"POST", "/api/openstack-volumes/*/snapshot/", "OpenStackSnapshot"},
	{"POST", "/api/openstack-volumes/*/*/", "Status"},
	{"GET", "/api/openstack-snapshots/", "[]OpenStackSnapshot"},
	{"GET", "/api/openstack-snapshots/*/", "OpenStackSnapshot"},
	{"PUT", "/api/openstack-snapshots/*/", "OpenStackSnapshot"},
	{"PATCH", "/api/openstack-snapshots/*/", "OpenStackSnapshot"},
	{"DELETE", "/api/openstack-snapshots/*/", "Status"},
	{"GET", "/api/openstack-snapshots/*/restorations/", "[]OpenStackSnapshotRestoration"},
	{"POST", "/api/openstack-snapshots/*/restore/", "OpenStackVolume"},
	{"GET", "/api/openstack-instances/", "[]OpenStackInstance"},
	{"GET", "/api/openstack-instances/*/", "OpenStackInstance"},
	{"GET", "/api/openstack-volume-types/", "[]OpenStackVolumeType"},
	{"GET", "/api/openstack-volume-types/*/", "OpenStackVolumeType"},
	{"GET", "/api/openstack-volume-availability-zones/", "[]OpenStackVolumeAvailabilityZone"},
	{"GET", "/api/openstack-volume-availability-zones/*/", "OpenStackVolumeAvailabilityZone"},
	{"GET", "/api/openstack-tenants/", "[]OpenStackTenant"},
	{"GET", "/api/openstack-tenants/*/", "OpenStackTenant"},
	{"GET", "/api/service-settings/", "[]ServiceSettings"},
	{"GET", "/api/service-settings/*/", "ServiceSettings"},
}

// matchRoute finds the first route whose pattern matches; the table lists
// literal actions before the wildcard ones.
func matchRoute(method, path string) (shapeRoute, bool) {
	segs := strings.Split(path, "/")
	for _, r := range shapeRoutes {
		if r.method != method {
			continue
		}
		ps := strings.Split(r.pattern, "/")
		if len(ps) != len(segs) {
			continue
		}
		ok := true
		for i := range ps {
			if ps[i] != "*" && ps[i] != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return r, true
		}
	}
	return shapeRoute{}, false
}

// shapeTally adds up, over the whole package run, what the checker saw;
// TestMain prints it. It is the one piece of shared state in the suite,
// and only the checker writes it.
var shapeTally = struct {
	sync.Mutex
	responses  map[string]int
	violations int
}{responses: map[string]int{}}

func TestMain(m *testing.M) {
	code := m.Run()
	shapeTally.Lock()
	n := 0
	for _, c := range shapeTally.responses {
		n += c
	}
	if n > 0 {
		var unseen []string
		for _, r := range shapeRoutes {
			if shapeTally.responses[r.method+" "+r.pattern] == 0 {
				unseen = append(unseen, r.method+" "+r.pattern)
			}
		}
		fmt.Printf("waldur shapes: %d of %d routes answered with success, %d route×outcome pairs, %d responses validated, %d violations\n",
			len(shapeRoutes)-len(unseen), len(shapeRoutes), len(shapeTally.responses), n, shapeTally.violations)
		if len(unseen) > 0 {
			fmt.Printf("waldur shapes: no success seen on %s\n", strings.Join(unseen, ", "))
		}
	}
	shapeTally.Unlock()
	os.Exit(code)
}

// shapeChecker is a RoundTripper that checks every Waldur response.
type shapeChecker struct {
	t    testing.TB
	book *shapeBook
}

// start runs a server whose every Waldur response the test checks.
func start(t testing.TB, opts ...testenv.Option) *testenv.Env {
	t.Helper()
	e := testenv.Start(t, opts...)
	e.Transport = &shapeChecker{t: t, book: loadShapes(t)}
	return e
}

func (c *shapeChecker) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	p := req.URL.Path
	if !strings.HasPrefix(p, "/api-auth/") && (!strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/api/v1/")) {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var problems []string
	key := req.Method + " " + p
	if req.Method == http.MethodHead || req.Method == http.MethodOptions {
		return resp, nil
	}
	rt, known := matchRoute(req.Method, p)
	if known {
		key = rt.method + " " + rt.pattern
	}
	switch {
	case resp.StatusCode >= 400:
		key += " (error)"
		problems = checkError(body)
	case !known:
		problems = []string{"no schema for this route"}
	case rt.body == "" || resp.StatusCode == http.StatusNoContent:
		if len(bytes.TrimSpace(body)) > 0 {
			problems = []string{fmt.Sprintf("body %q where Waldur sends none", body)}
		}
	default:
		problems = c.checkBody(rt.body, body, req.URL.Query().Has("field"))
		if strings.HasPrefix(rt.body, "[]") && !strings.HasSuffix(rt.pattern, "/restorations/") {
			problems = append(problems, checkPaging(resp.Header)...)
		}
	}
	shapeTally.Lock()
	shapeTally.responses[key]++
	shapeTally.violations += len(problems)
	shapeTally.Unlock()
	for _, pr := range problems {
		c.t.Errorf("shape: %s %s → %d: %s", req.Method, req.URL.RequestURI(), resp.StatusCode, pr)
	}
	return resp, nil
}

// linkEntry is one entry of a Link header as DRF writes it.
var linkEntry = regexp.MustCompile(`^<([^>]+)>; rel="(first|prev|next|last)"$`)

// checkPaging checks a page's headers: X-Result-Count, and Link entries
// whose urls are absolute, in the order first, prev, next, last.
func checkPaging(h http.Header) []string {
	var out []string
	if n := h.Get("X-Result-Count"); n == "" || strings.Trim(n, "0123456789") != "" {
		out = append(out, fmt.Sprintf("X-Result-Count %q", n))
	}
	order := map[string]int{"first": 0, "prev": 1, "next": 2, "last": 3}
	last := -1
	for _, e := range strings.Split(h.Get("Link"), ", ") {
		m := linkEntry.FindStringSubmatch(e)
		if m == nil {
			out = append(out, fmt.Sprintf("Link entry %q", e))
			continue
		}
		if u, err := url.Parse(m[1]); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			out = append(out, fmt.Sprintf("Link url %q is not absolute", m[1]))
		}
		if order[m[2]] <= last {
			out = append(out, fmt.Sprintf("Link rel %q out of order", m[2]))
		}
		last = order[m[2]]
	}
	return out
}

// checkError accepts DRF's three error bodies: {"detail": msg}, a dict of
// field errors, and a bare list of messages.
func checkError(body []byte) []string {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return []string{fmt.Sprintf("error body %q is not JSON", body)}
	}
	switch x := v.(type) {
	case []any:
		for _, m := range x {
			if _, ok := m.(string); !ok {
				return []string{fmt.Sprintf("error list holds %v", m)}
			}
		}
		return nil
	case map[string]any:
		if d, ok := x["detail"]; ok {
			if _, isStr := d.(string); !isStr || len(x) != 1 {
				return []string{fmt.Sprintf("detail body %s", body)}
			}
			return nil
		}
		if len(x) == 0 {
			return []string{"empty error object"}
		}
		var out []string
		for k, msgs := range x {
			if !fieldErrorValue(msgs) {
				out = append(out, fmt.Sprintf("field error %q is %v", k, msgs))
			}
		}
		return out
	}
	return []string{fmt.Sprintf("error body %s", body)}
}

func fieldErrorValue(v any) bool {
	switch x := v.(type) {
	case []any:
		for _, m := range x {
			if _, ok := m.(string); !ok {
				return false
			}
		}
		return len(x) > 0
	case map[string]any:
		for _, m := range x {
			if !fieldErrorValue(m) {
				return false
			}
		}
		return len(x) > 0
	}
	return false
}

func (c *shapeChecker) checkBody(name string, body []byte, selected bool) []string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&v); err != nil {
		return []string{fmt.Sprintf("body %q is not JSON", body)}
	}
	var out []string
	if item, isList := strings.CutPrefix(name, "[]"); isList {
		list, ok := v.([]any)
		if !ok {
			return []string{"want a bare JSON array"}
		}
		for i, el := range list {
			out = append(out, c.checkObject(fmt.Sprintf("[%d]", i), item, el, selected)...)
		}
		return out
	}
	return c.checkObject("", name, v, selected)
}

// checkObject validates v against schema name. selected is set when the
// request chose fields with ?field=, which leaves the others out.
func (c *shapeChecker) checkObject(at, name string, v any, selected bool) []string {
	m, ok := v.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: want a %s object, have %s", at, name, jsonKind(v))}
	}
	s, ok := c.book.Schemas[name]
	if !ok {
		return []string{fmt.Sprintf("no schema %s", name)}
	}
	var out []string
	if !selected {
		req := slices.Clone(s.Required)
		// Every hyperlinked Waldur object has url and uuid (spec §1).
		if _, linked := s.Fields["url"]; linked {
			for _, f := range []string{"url", "uuid"} {
				if !slices.Contains(req, f) {
					req = append(req, f)
				}
			}
		}
		for _, f := range req {
			if _, has := m[f]; !has {
				out = append(out, fmt.Sprintf("%s.%s: required by %s, missing", at, f, name))
			}
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fs, known := s.Fields[k]
		if !known {
			continue // additional properties are kept by the client
		}
		if p := c.checkValue(at+"."+k, fs, m[k]); p != "" {
			out = append(out, p)
		}
	}
	return out
}

var (
	hex32    = regexp.MustCompile(`^[0-9a-f]{32}$`)
	waldurTk = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

func (c *shapeChecker) checkValue(at string, fs fieldShape, v any) string {
	if v == nil {
		if fs.Nullable {
			return ""
		}
		return fmt.Sprintf("%s: null where %v is not nullable", at, fs.Types)
	}
	var why []string
	for _, t := range fs.Types {
		p := c.checkType(at, t, v)
		if p == "" {
			return ""
		}
		why = append(why, p)
	}
	return strings.Join(why, "; ")
}

func (c *shapeChecker) checkType(at, typ string, v any) string {
	bad := func() string { return fmt.Sprintf("%s: %v is not %s", at, v, typ) }
	s, isStr := v.(string)
	switch {
	case typ == "string":
		if !isStr {
			return bad()
		}
	case typ == "token":
		if !isStr || !waldurTk.MatchString(s) {
			return bad()
		}
	case typ == "uuid":
		if !isStr || !hex32.MatchString(s) {
			return bad()
		}
	case typ == "url":
		u, err := url.Parse(s)
		if !isStr || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasSuffix(u.Path, "/") {
			return bad()
		}
	case typ == "datetime":
		if _, err := time.Parse(time.RFC3339Nano, s); !isStr || err != nil {
			return bad()
		}
	case typ == "date":
		if _, err := time.Parse(time.DateOnly, s); !isStr || err != nil {
			return bad()
		}
	case typ == "integer":
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			return bad()
		}
	case typ == "number":
		if _, ok := v.(float64); !ok {
			return bad()
		}
	case typ == "boolean":
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case typ == "object":
		if _, ok := v.(map[string]any); !ok {
			return bad()
		}
	case strings.HasPrefix(typ, "enum:"):
		if !isStr || !slices.Contains(c.book.Enums[typ[5:]], s) {
			return bad()
		}
	case strings.HasPrefix(typ, "ref:"):
		return strings.Join(c.checkObject(at, typ[4:], v, false), "; ")
	case strings.HasPrefix(typ, "array:"):
		list, ok := v.([]any)
		if !ok {
			return bad()
		}
		var out []string
		for i, el := range list {
			if el == nil {
				out = append(out, fmt.Sprintf("%s[%d]: null item", at, i))
			} else if p := c.checkType(fmt.Sprintf("%s[%d]", at, i), typ[6:], el); p != "" {
				out = append(out, p)
			}
		}
		return strings.Join(out, "; ")
	default:
		return fmt.Sprintf("%s: unknown type %s in the shapes", at, typ)
	}
	return ""
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	}
	return fmt.Sprintf("%T", v)
}

// TestEveryRouteAnswersInShape provokes a success from the routes the
// other tests do not reach, so the shapes check sees every route.
func TestEveryRouteAnswersInShape(t *testing.T) {
	e := start(t)
	auth := tok(e.AdminToken)
	c := readCatalog(t, e, auth)
	cats := decode[[]obj](t, e.Do("GET", "/api/marketplace-categories/", auth, nil))
	if len(cats) == 0 {
		t.Fatal("no categories")
	}
	want(t, e.Do("GET", path(cats[0]["url"]), auth, nil), 200, "")
	off := path(c.volume["url"])
	want(t, e.Do("GET", off, auth, nil), 200, "")
	want(t, e.Do("GET", off+"plans/", auth, nil), 200, "")
	want(t, e.Do("GET", path(c.volumePlan["url"]), auth, nil), 200, "")
	plans := decode[[]obj](t, e.Do("GET", "/api/marketplace-plans/?offering_uuid="+c.volume["uuid"].(string), auth, nil))
	if len(plans) != 1 {
		t.Fatalf("plans of the offering: %v", plans)
	}
	want(t, e.Do("GET", "/api/marketplace-plans/"+plans[0]["uuid"].(string)+"/", auth, nil), 200, "")

	_, vol := orderVolume(t, e, auth, c, "v", 1)
	r := e.Do("POST", path(vol["url"])+"snapshot/", auth, obj{"name": "s"})
	want(t, r, 201, "")
	spath := path(decode[obj](t, r)["url"])
	waitFor(t, e, auth, spath, stateIs("OK", ""))
	r = e.Do("PUT", spath, auth, obj{"name": "renamed", "description": "d"})
	want(t, r, 200, "")
	if got := decode[obj](t, r); got["name"] != "renamed" {
		t.Errorf("PUT snapshot: %v", got["name"])
	}
}
