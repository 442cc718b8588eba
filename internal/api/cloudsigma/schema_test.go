package cloudsigma_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file closes the class of "a typed client cannot parse this
// response": TestMain puts a checker in front of the HTTP client every test
// of the package uses (testenv sends through http.DefaultClient), and the
// checker validates every response of every CloudSigma route against the
// schemas in testdata/schemas.json: JSON types, required fields, uuid and
// datetime formats, enums, and no null where the schema has none. A
// response of a route or status the table below does not know is a
// violation too, so a new route cannot go unchecked.

// jsonSchema is the subset of JSON Schema the schemas use.
type jsonSchema struct {
	Ref                  string                 `json:"$ref"`
	Type                 any                    `json:"type"` // a name or a list of names
	Enum                 []any                  `json:"enum"`
	Format               string                 `json:"format"`
	Pattern              string                 `json:"pattern"`
	Properties           map[string]*jsonSchema `json:"properties"`
	Required             []string               `json:"required"`
	AdditionalProperties json.RawMessage        `json:"additionalProperties"`
	Items                *jsonSchema            `json:"items"`
	MinItems             int                    `json:"minItems"`
	AnyOf                []*jsonSchema          `json:"anyOf"`
}

type schemaSet struct {
	Definitions map[string]*jsonSchema `json:"definitions"`
}

func loadSchemas() (*schemaSet, error) {
	b, err := os.ReadFile(filepath.Join("testdata", "schemas.json"))
	if err != nil {
		return nil, err
	}
	var s schemaSet
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("schemas.json: %w", err)
	}
	return &s, nil
}

var (
	uuidRE        = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	csTimestampRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?\+00:00$`)
)

// jsonType names v's JSON type; a whole number is an integer (and a number).
func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// validate appends to out one line per way v breaks s. With partial set
// (a ?fields= answer) required fields may be missing.
func (set *schemaSet) validate(s *jsonSchema, v any, at string, partial bool, out *[]string) {
	bad := func(format string, args ...any) { *out = append(*out, at+": "+fmt.Sprintf(format, args...)) }
	if s.Ref != "" {
		def := set.Definitions[strings.TrimPrefix(s.Ref, "#/definitions/")]
		if def == nil {
			bad("unknown $ref %s", s.Ref)
			return
		}
		set.validate(def, v, at, partial, out)
		return
	}
	if len(s.AnyOf) > 0 {
		var best []string
		for i, alt := range s.AnyOf {
			var errs []string
			set.validate(alt, v, at, partial, &errs)
			if len(errs) == 0 {
				return
			}
			if i == 0 || len(errs) < len(best) {
				best = errs
			}
		}
		*out = append(*out, best...)
		return
	}
	got := jsonType(v)
	if s.Type != nil {
		var types []string
		switch t := s.Type.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, x.(string))
			}
		}
		ok := slices.Contains(types, got) || (got == "integer" && slices.Contains(types, "number"))
		if !ok {
			if got == "null" {
				bad("null where the schema allows %v", types)
			} else {
				bad("%s where the schema wants %v", got, types)
			}
			return
		}
	}
	if s.Enum != nil {
		if !slices.ContainsFunc(s.Enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) && jsonType(v) != "null" }) {
			bad("%v is not one of %v", v, s.Enum)
		}
	}
	if str, ok := v.(string); ok {
		switch s.Format {
		case "uuid":
			if !uuidRE.MatchString(str) {
				bad("%q is not a uuid", str)
			}
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				bad("%q is not an RFC 3339 date-time", str)
			}
		case "cs-timestamp":
			if !csTimestampRE.MatchString(str) {
				bad("%q is not a timestamp like 2014-06-05 09:52:53.896622+00:00", str)
			}
		}
		if s.Pattern != "" && !regexp.MustCompile(s.Pattern).MatchString(str) {
			bad("%q does not match %s", str, s.Pattern)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		if !partial {
			for _, k := range s.Required {
				if _, ok := x[k]; !ok {
					bad("required field %q is missing", k)
				}
			}
		}
		var extra *jsonSchema
		closed := string(s.AdditionalProperties) == "false"
		if len(s.AdditionalProperties) > 0 && !closed {
			extra = new(jsonSchema)
			if err := json.Unmarshal(s.AdditionalProperties, extra); err != nil {
				bad("bad additionalProperties: %v", err)
				return
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch p := s.Properties[k]; {
			case p != nil:
				set.validate(p, x[k], at+"."+k, partial, out)
			case closed:
				bad("field %q is not in the schema", k)
			case extra != nil:
				set.validate(extra, x[k], at+"."+k, partial, out)
			}
		}
	case []any:
		if len(x) < s.MinItems {
			bad("%d items, at least %d wanted", len(x), s.MinItems)
		}
		if s.Items != nil {
			for i, e := range x {
				set.validate(s.Items, e, fmt.Sprintf("%s[%d]", at, i), partial, out)
			}
		}
	}
}

// responseSchema turns a table entry into a schema: "list:X" is a paginated
// list of X, "objects:X" the {"objects": [X]} wrapper, "X|Y" either. The
// one plain-text answer, "text:uuid", is checked by check itself.
func responseSchema(spec string) *jsonSchema {
	if alts := strings.Split(spec, "|"); len(alts) > 1 && !strings.Contains(spec, ":") {
		s := &jsonSchema{}
		for _, a := range alts {
			s.AnyOf = append(s.AnyOf, responseSchema(a))
		}
		return s
	}
	kind, name, wrapped := strings.Cut(spec, ":")
	if !wrapped {
		return &jsonSchema{Ref: "#/definitions/" + spec}
	}
	items := responseSchema(name)
	objects := &jsonSchema{Type: "array", Items: items}
	switch kind {
	case "list":
		integer := &jsonSchema{Type: "integer"}
		meta := &jsonSchema{Type: "object", Required: []string{"limit", "offset", "total_count"}, AdditionalProperties: json.RawMessage("false"),
			Properties: map[string]*jsonSchema{"limit": integer, "offset": integer, "total_count": integer}}
		return &jsonSchema{Type: "object", Required: []string{"meta", "objects"}, AdditionalProperties: json.RawMessage("false"),
			Properties: map[string]*jsonSchema{"meta": meta, "objects": objects}}
	case "objects":
		objects.MinItems = 1
		return &jsonSchema{Type: "object", Required: []string{"objects"}, AdditionalProperties: json.RawMessage("false"),
			Properties: map[string]*jsonSchema{"objects": objects}}
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

// schemaChecker is the http.RoundTripper that checks CloudSigma responses
// and tallies what it saw.
type schemaChecker struct {
	next   http.RoundTripper
	set    *schemaSet
	routes *http.ServeMux
	mu     sync.Mutex
	seen   map[string]int // "route status" → responses checked
	bad    []string
}

func newSchemaChecker(next http.RoundTripper) (*schemaChecker, error) {
	set, err := loadSchemas()
	if err != nil {
		return nil, err
	}
	c := &schemaChecker{next: next, set: set, routes: http.NewServeMux(), seen: map[string]int{}}
	for _, r := range csRoutes {
		method, path, _ := strings.Cut(r.pattern, " ")
		c.routes.Handle(method+" /api/2.0/"+path+"{$}", http.NotFoundHandler())
		for status, spec := range r.ok {
			if spec == "" || strings.HasPrefix(spec, "text:") {
				continue
			}
			var errs []string
			set.validate(responseSchema(spec), nil, "", true, &errs) // resolves every $ref once
			for _, e := range errs {
				if strings.Contains(e, "unknown $ref") {
					return nil, fmt.Errorf("%s %d: %s", r.pattern, status, e)
				}
			}
		}
	}
	return c, nil
}

func (c *schemaChecker) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/api/2.0/") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	c.check(req, resp.StatusCode, resp.Header, body)
	return resp, nil
}

// check validates one response and records the outcome.
func (c *schemaChecker) check(req *http.Request, status int, h http.Header, body []byte) {
	probe := req.Clone(req.Context())
	if !strings.HasSuffix(probe.URL.Path, "/") {
		probe.URL.Path += "/"
	}
	_, pattern := c.routes.Handler(probe)
	route := strings.TrimPrefix(pattern, probe.Method+" /api/2.0/")
	route = strings.TrimSuffix(route, "{$}")
	if pattern == "" {
		route = "(unrouted)"
	}
	var errs []string
	switch {
	case req.Method == http.MethodOptions:
		route = "OPTIONS"
		if status == 200 && (!strings.HasPrefix(h.Get("Content-Type"), "text/plain") || len(body) == 0) {
			errs = append(errs, "OPTIONS answer is not a text method list")
		}
	case status == http.StatusNoContent:
		if len(body) != 0 {
			errs = append(errs, "204 with a body")
		}
	case status >= 400:
		errs = c.validateJSON("errors", h, body, false)
	default:
		spec, ok := "", false
		for _, r := range csRoutes {
			if r.pattern == probe.Method+" "+route {
				spec, ok = r.ok[status]
			}
		}
		if !ok || spec == "" {
			errs = append(errs, fmt.Sprintf("no schema for status %d of this route", status))
			break
		}
		if spec == "text:uuid" {
			if !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || !uuidRE.Match(bytes.TrimSpace(body)) {
				errs = append(errs, fmt.Sprintf("%q is not a uuid in plain text", body))
			}
			break
		}
		errs = c.validateJSON(spec, h, body, req.URL.Query().Has("fields"))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[fmt.Sprintf("%s %s %d", req.Method, route, status)]++
	for _, e := range errs {
		c.bad = append(c.bad, fmt.Sprintf("%s %s → %d: %s", req.Method, req.URL.RequestURI(), status, e))
	}
}

func (c *schemaChecker) validateJSON(spec string, h http.Header, body []byte, partial bool) []string {
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return []string{fmt.Sprintf("Content-Type %q is not JSON", ct)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return []string{fmt.Sprintf("body is not JSON: %v", err)}
	}
	var errs []string
	c.set.validate(responseSchema(spec), v, "$", partial, &errs)
	return errs
}

// report prints the tally; it returns false when any response broke its
// schema.
func (c *schemaChecker) report(w io.Writer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	routes := map[string]bool{}
	total, pairs := 0, 0
	for k, n := range c.seen {
		method, rest, _ := strings.Cut(k, " ")
		route, _, _ := strings.Cut(rest, " ")
		total += n
		// OPTIONS and paths outside the table (answered 404) are checked
		// but are not routes.
		if route != "OPTIONS" && route != "(unrouted)" {
			routes[method+" "+route] = true
			pairs++
		}
	}
	fmt.Fprintf(w, "cloudsigma response schemas: %d responses validated; %d routes (of %d in the table) × their statuses = %d pairs; %d violations\n",
		total, len(routes), len(csRoutes), pairs, len(c.bad))
	for _, r := range csRoutes {
		if !routes[r.pattern] && testing.Verbose() {
			fmt.Fprintln(w, "  not exercised:", r.pattern)
		}
	}
	for _, b := range c.bad {
		fmt.Fprintln(w, "  violation:", b)
	}
	return len(c.bad) == 0
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
	if !checker.report(os.Stdout) && code == 0 {
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
	if errs := c.validateJSON("snapshot", h, []byte(good), false); len(errs) != 0 {
		t.Fatalf("a good snapshot: %v", errs)
	}
	for fault, edit := range map[string][2]string{
		"is not one of":          {`"status": "available"`, `"status": "ready"`},
		"is not a uuid":          {`"uuid": "0190e3c2-8a4e-7b3c-9d2e-1f2a3b4c5d70"}`, `"uuid": "snap-1"}`},
		"null where":             {`"meta": {}`, `"meta": null`},
		"where the schema wants": {`"allocated_size": 0`, `"allocated_size": "0"`},
		"is missing":             {`"name": "s", `, ``},
		"is not in the schema":   {`"tags": []`, `"tags": [], "extra": 1`},
		"is not a timestamp":     {`2014-06-05 09:52:53.896622+00:00`, `yesterday`},
	} {
		bad := strings.Replace(good, edit[0], edit[1], 1)
		if bad == good {
			t.Fatalf("%s: edit did not apply", fault)
		}
		errs := c.validateJSON("snapshot", h, []byte(bad), false)
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, fault) }) {
			t.Errorf("%s: not reported, got %v", fault, errs)
		}
	}
	// A route the table does not know, and an error that is not an array.
	req, _ := http.NewRequest("GET", "http://x/api/2.0/nothing/", nil)
	c.check(req, 200, h, []byte(`{}`))
	req, _ = http.NewRequest("GET", "http://x/api/2.0/drives/", nil)
	c.check(req, 404, h, []byte(`{"error": "nope"}`))
	if len(c.bad) != 2 {
		t.Errorf("violations %v", c.bad)
	}
}
