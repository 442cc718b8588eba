package cloudsigma_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/testenv/jsonschema"
)

// This file closes the class of "a typed client cannot parse this
// response": TestMain puts a checker in front of the HTTP client every test
// of the package uses (testenv sends through http.DefaultClient), and the
// checker validates every response of every CloudSigma route against the
// schemas in testdata/schemas.json: JSON types, required fields, uuid and
// datetime formats, enums, and no null where the schema has none. A
// response of a route or status the table below does not know is a
// violation too, so a new route cannot go unchecked.

var csTimestampRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?\+00:00$`)

func loadSchemas() (*jsonschema.Set, error) {
	return jsonschema.Load(filepath.Join("testdata", "schemas.json"),
		map[string]func(string) bool{"cs-timestamp": csTimestampRE.MatchString})
}

// responseSchema turns a table entry into a schema: "list:X" is a paginated
// list of X, "objects:X" the {"objects": [X]} wrapper, "X|Y" either. The
// one plain-text answer, "text:uuid", is checked by check itself.
func responseSchema(spec string) *jsonschema.Schema {
	if alts := strings.Split(spec, "|"); len(alts) > 1 && !strings.Contains(spec, ":") {
		s := &jsonschema.Schema{}
		for _, a := range alts {
			s.AnyOf = append(s.AnyOf, responseSchema(a))
		}
		return s
	}
	kind, name, wrapped := strings.Cut(spec, ":")
	if !wrapped {
		return jsonschema.Ref(spec)
	}
	items := responseSchema(name)
	objects := &jsonschema.Schema{Type: "array", Items: items}
	switch kind {
	case "list":
		integer := &jsonschema.Schema{Type: "integer"}
		meta := &jsonschema.Schema{Type: "object", Required: []string{"limit", "offset", "total_count"}, AdditionalProperties: json.RawMessage("false"),
			Properties: map[string]*jsonschema.Schema{"limit": integer, "offset": integer, "total_count": integer}}
		return &jsonschema.Schema{Type: "object", Required: []string{"meta", "objects"}, AdditionalProperties: json.RawMessage("false"),
			Properties: map[string]*jsonschema.Schema{"meta": meta, "objects": objects}}
	case "objects":
		objects.MinItems = 1
		return &jsonschema.Schema{Type: "object", Required: []string{"objects"}, AdditionalProperties: json.RawMessage("false"),
			Properties: map[string]*jsonschema.Schema{"objects": objects}}
	}
	panic("bad response spec " + spec)
}

// csRoutes are the dialect's routes (paths under /api/2.0/) with the schema
// of each success status; every status from 400 up is the error array, 204
// an empty body and OPTIONS a text method list.
var csRoutes = []struct {
	pattern string
	ok      map[int]string
}{
	{"POST accounts/action/", map[int]string{200: "login|empty"}},
	{"GET drives/", map[int]string{200: "list:drive_short|drive"}},
	{"GET drives/detail/", map[int]string{200: "list:drive"}},
	{"POST drives/", map[int]string{201: "objects:drive"}},
	{"DELETE drives/", map[int]string{204: ""}},
	{"GET drives/schema/", map[int]string{200: "tastypie_schema"}},
	{"GET drives/availability_groups/", map[int]string{200: "availability_groups"}},
	{"GET drives/{uuid}/", map[int]string{200: "drive|libdrive_as_drive"}},
	{"PUT drives/{uuid}/", map[int]string{200: "drive"}},
	{"DELETE drives/{uuid}/", map[int]string{204: ""}},
	{"POST drives/{uuid}/action/", map[int]string{202: "objects:drive", 200: "upload_link"}},
	{"GET jobs/", map[int]string{200: "list:job"}},
	{"GET jobs/{uuid}/", map[int]string{200: "job"}},
	{"GET capabilities/", map[int]string{200: "capabilities"}},
	{"GET capabilities/schema/", map[int]string{200: "capabilities_schema"}},
	{"GET snapshots/", map[int]string{200: "list:snapshot_short|snapshot"}},
	{"GET snapshots/detail/", map[int]string{200: "list:snapshot"}},
	{"POST snapshots/", map[int]string{201: "objects:snapshot"}},
	{"DELETE snapshots/", map[int]string{204: ""}},
	{"GET snapshots/schema/", map[int]string{200: "tastypie_schema"}},
	{"GET snapshots/{uuid}/", map[int]string{200: "snapshot"}},
	{"PUT snapshots/{uuid}/", map[int]string{200: "snapshot"}},
	{"DELETE snapshots/{uuid}/", map[int]string{204: ""}},
	{"POST snapshots/{uuid}/action/", map[int]string{202: "drive"}},
	{"GET libdrives/", map[int]string{200: "list:libdrive"}},
	{"GET libdrives/detail/", map[int]string{200: "list:libdrive"}},
	{"GET libdrives/schema/", map[int]string{200: "tastypie_schema"}},
	{"POST libdrives/", map[int]string{201: "objects:libdrive"}},
	{"GET libdrives/{uuid}/", map[int]string{200: "libdrive"}},
	{"DELETE libdrives/{uuid}/", map[int]string{204: ""}},
	{"POST libdrives/{uuid}/action/", map[int]string{202: "objects:drive"}},
	{"POST initupload/", map[int]string{201: "objects:drive"}},
	{"POST drives/upload/", map[int]string{200: "text:uuid"}},
	{"POST drives/{uuid}/upload/{range}/", map[int]string{200: "empty"}},
	{"GET drives/{uuid}/upload/", map[int]string{200: "empty"}},
	{"POST drives/{uuid}/upload/", map[int]string{200: "empty"}},
	{"GET driveusers/", map[int]string{200: "list:driveuser"}},
	{"POST driveusers/", map[int]string{201: "objects:driveuser"}},
	{"GET driveusers/{uuid}/", map[int]string{200: "driveuser"}},
	{"PUT driveusers/{uuid}/", map[int]string{200: "objects:driveuser"}},
	{"DELETE driveusers/{uuid}/", map[int]string{204: ""}},
	{"GET tags/", map[int]string{200: "list:tag"}},
	{"GET tags/{uuid}/", map[int]string{200: "tag"}},
	{"GET tags/{uuid}/drives/", map[int]string{200: "list:drive"}},
	{"GET profile/", map[int]string{200: "profile"}},
	{"PUT profile/", map[int]string{200: "profile"}},
	{"GET profile/schema/", map[int]string{200: "tastypie_schema"}},
	{"GET servers/", map[int]string{200: "list:server_short|server"}},
	{"GET servers/detail/", map[int]string{200: "list:server"}},
	{"POST servers/", map[int]string{201: "objects:server"}},
	{"GET servers/{uuid}/", map[int]string{200: "server"}},
	{"PUT servers/{uuid}/", map[int]string{200: "server"}},
	{"DELETE servers/{uuid}/", map[int]string{204: ""}},
	{"POST servers/{uuid}/action/", map[int]string{202: "server_action"}},
}

// schemaChecker checks CloudSigma responses: the route table resolves a
// request to its pattern, and jsonschema.Checker tallies.
type schemaChecker struct {
	*jsonschema.Checker
	set    *jsonschema.Set
	routes *http.ServeMux
}

func newSchemaChecker(next http.RoundTripper) (*schemaChecker, error) {
	set, err := loadSchemas()
	if err != nil {
		return nil, err
	}
	c := &schemaChecker{set: set, routes: http.NewServeMux()}
	c.Checker = &jsonschema.Checker{Next: next, Prefix: []string{"/api/2.0/"}, Check: c.check}
	for _, r := range csRoutes {
		method, path, _ := strings.Cut(r.pattern, " ")
		c.routes.Handle(method+" /api/2.0/"+path+"{$}", http.NotFoundHandler())
		for status, spec := range r.ok {
			if spec == "" || strings.HasPrefix(spec, "text:") {
				continue
			}
			if err := set.CheckRefs(responseSchema(spec)); err != nil {
				return nil, fmt.Errorf("%s %d: %w", r.pattern, status, err)
			}
		}
	}
	return c, nil
}

// check judges one response: every status from 400 up is the error array,
// 204 an empty body, OPTIONS a text method list, the rest the table's.
func (c *schemaChecker) check(req *http.Request, status int, h http.Header, body []byte) (string, []string) {
	probe := req.Clone(req.Context())
	if !strings.HasSuffix(probe.URL.Path, "/") {
		probe.URL.Path += "/"
	}
	_, pattern := c.routes.Handler(probe)
	route := strings.TrimSuffix(strings.TrimPrefix(pattern, probe.Method+" /api/2.0/"), "{$}")
	if pattern == "" {
		route = "(unrouted)"
	}
	var errs []string
	switch {
	case req.Method == http.MethodOptions:
		route = "(options)"
		if status == 200 && (!strings.HasPrefix(h.Get("Content-Type"), "text/plain") || len(body) == 0) {
			errs = append(errs, "OPTIONS answer is not a text method list")
		}
	case status == http.StatusNoContent:
		if len(body) != 0 {
			errs = append(errs, "204 with a body")
		}
	case status >= 400:
		errs = c.set.JSONBody(responseSchema("errors"), h, body, false)
	default:
		spec, ok := "", false
		for _, r := range csRoutes {
			if r.pattern == probe.Method+" "+route {
				spec, ok = r.ok[status]
			}
		}
		switch {
		case !ok || spec == "":
			errs = append(errs, fmt.Sprintf("no schema for status %d of this route", status))
		case spec == "text:uuid":
			if !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || !jsonschema.IsUUID(string(bytes.TrimSpace(body))) {
				errs = append(errs, fmt.Sprintf("%q is not a uuid in plain text", body))
			}
		default:
			errs = c.set.JSONBody(responseSchema(spec), h, body, req.URL.Query().Has("fields"))
		}
	}
	return probe.Method + " " + route, errs
}

var checker *schemaChecker

func TestMain(m *testing.M) {
	var err error
	checker, err = newSchemaChecker(http.DefaultTransport)
	if err != nil {
		fmt.Fprintln(os.Stderr, "schema checker:", err)
		os.Exit(2)
	}
	http.DefaultClient.Transport = checker
	code := m.Run()
	table := make([]string, 0, len(csRoutes))
	for _, r := range csRoutes {
		table = append(table, r.pattern)
	}
	if !checker.Report(os.Stdout, "cloudsigma", table) && code == 0 {
		code = 1
	}
	os.Exit(code)
}

// TestSchemaCheckerCatches: the checker is not a rubber stamp; each kind
// of fault a typed client trips on is reported.
func TestSchemaCheckerCatches(t *testing.T) {
	c, err := newSchemaChecker(http.DefaultTransport)
	if err != nil {
		t.Fatal(err)
	}
	good := `{"allocated_size": 0, "drive": {"resource_uri": "/api/2.0/drives/0190e3c2-8a4e-7b3c-9d2e-1f2a3b4c5d6e/", "uuid": "0190e3c2-8a4e-7b3c-9d2e-1f2a3b4c5d6e"},
		"grantees": [], "meta": {}, "name": "s", "owner": {"resource_uri": "/api/2.0/user/0190e3c2-8a4e-7b3c-9d2e-1f2a3b4c5d6f/", "uuid": "0190e3c2-8a4e-7b3c-9d2e-1f2a3b4c5d6f"},
		"permissions": [], "resource_uri": "/api/2.0/snapshots/0190e3c2-8a4e-7b3c-9d2e-1f2a3b4c5d70/", "status": "available", "tags": [],
		"timestamp": "2014-06-05 09:52:53.896622+00:00", "uuid": "0190e3c2-8a4e-7b3c-9d2e-1f2a3b4c5d70"}`
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	if errs := c.set.JSONBody(responseSchema("snapshot"), h, []byte(good), false); len(errs) != 0 {
		t.Fatalf("a good snapshot: %v", errs)
	}
	for fault, edit := range map[string][2]string{
		"is not one of":          {`"status": "available"`, `"status": "ready"`},
		"is not a uuid":          {`"uuid": "0190e3c2-8a4e-7b3c-9d2e-1f2a3b4c5d70"}`, `"uuid": "snap-1"}`},
		"null where":             {`"meta": {}`, `"meta": null`},
		"where the schema wants": {`"allocated_size": 0`, `"allocated_size": "0"`},
		"is missing":             {`"name": "s", `, ``},
		"is not in the schema":   {`"tags": []`, `"tags": [], "extra": 1`},
		"is not a cs-timestamp":  {`2014-06-05 09:52:53.896622+00:00`, `yesterday`},
	} {
		bad := strings.Replace(good, edit[0], edit[1], 1)
		if bad == good {
			t.Fatalf("%s: edit did not apply", fault)
		}
		errs := c.set.JSONBody(responseSchema("snapshot"), h, []byte(bad), false)
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, fault) }) {
			t.Errorf("%s: not reported, got %v", fault, errs)
		}
	}
	// A route the table does not know, and an error that is not an array.
	req, _ := http.NewRequest("GET", "http://x/api/2.0/nothing/", nil)
	if _, errs := c.check(req, 200, h, []byte(`{}`)); len(errs) != 1 {
		t.Errorf("unknown route: %v", errs)
	}
	req, _ = http.NewRequest("GET", "http://x/api/2.0/drives/", nil)
	if _, errs := c.check(req, 404, h, []byte(`{"error": "nope"}`)); len(errs) == 0 {
		t.Error("an error that is not an array passed")
	}
}
