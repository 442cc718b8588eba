// Package jsonschema checks a dialect's responses against JSON Schemas
// written from its provider's documents, for the dialect test suites. A
// client generated from a provider's schema raises on the whole response
// when one field has the wrong type, is missing or is null, so a suite puts
// a Checker in front of its HTTP client and every response it provokes is
// validated. It knows the subset of JSON Schema the dialects' schemas use.
package jsonschema

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

// Schema is the subset of JSON Schema the dialects' schemas use.
type Schema struct {
	Ref                  string             `json:"$ref"`
	Type                 any                `json:"type"` // a name or a list of names
	Enum                 []any              `json:"enum"`
	Format               string             `json:"format"`
	Pattern              string             `json:"pattern"`
	Properties           map[string]*Schema `json:"properties"`
	Required             []string           `json:"required"`
	AdditionalProperties json.RawMessage    `json:"additionalProperties"`
	Items                *Schema            `json:"items"`
	MinItems             int                `json:"minItems"`
	AnyOf                []*Schema          `json:"anyOf"`
}

// Set is a file of definitions and the string formats they may name
// beyond uuid and date-time.
type Set struct {
	Definitions map[string]*Schema `json:"definitions"`
	Formats     map[string]func(string) bool
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// IsUUID reports whether s is a lower-case hyphenated UUID.
func IsUUID(s string) bool { return uuidRE.MatchString(s) }

// Load reads a file of {"definitions": {…}}; formats adds named string
// formats.
func Load(path string, formats map[string]func(string) bool) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Set
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.Formats = map[string]func(string) bool{
		"uuid":      IsUUID,
		"date-time": func(v string) bool { _, err := time.Parse(time.RFC3339Nano, v); return err == nil },
	}
	for k, f := range formats {
		s.Formats[k] = f
	}
	return &s, nil
}

// Ref is a schema naming a definition.
func Ref(name string) *Schema { return &Schema{Ref: "#/definitions/" + name} }

// TypeOf names v's JSON type; a whole number is an integer (and a number).
func TypeOf(v any) string {
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

// Decode reads a JSON body with numbers kept as json.Number, so integers
// and fractions stay apart.
func Decode(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// Validate returns one line per way v breaks s, each prefixed with where
// (at). With partial set (an answer with chosen fields) required fields
// may be missing.
func (set *Set) Validate(s *Schema, v any, at string, partial bool) []string {
	var out []string
	set.validate(s, v, at, partial, &out)
	return out
}

// CheckRefs reports a $ref in s (followed through anyOf, items and
// properties) that names no definition.
func (set *Set) CheckRefs(s *Schema) error {
	for _, e := range set.Validate(s, nil, "", true) {
		if strings.Contains(e, "unknown $ref") {
			return fmt.Errorf("%s", e)
		}
	}
	return nil
}

func (set *Set) validate(s *Schema, v any, at string, partial bool, out *[]string) {
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
	got := TypeOf(v)
	if s.Type != nil {
		var types []string
		switch t := s.Type.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, fmt.Sprint(x))
			}
		}
		if !slices.Contains(types, got) && !(got == "integer" && slices.Contains(types, "number")) {
			if got == "null" {
				bad("null where the schema allows %v", types)
			} else {
				bad("%s where the schema wants %v", got, types)
			}
			return
		}
	}
	if s.Enum != nil && !slices.ContainsFunc(s.Enum, func(e any) bool { return got != "null" && fmt.Sprint(e) == fmt.Sprint(v) }) {
		bad("%v is not one of %v", v, s.Enum)
	}
	if str, ok := v.(string); ok {
		if f, known := set.Formats[s.Format]; s.Format != "" && (!known || !f(str)) {
			bad("%q is not a %s", str, s.Format)
		}
		if s.Pattern != "" && !regexp.MustCompile(s.Pattern).MatchString(str) {
			bad("%q does not match %s", str, s.Pattern)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		set.validateObject(s, x, at, partial, out)
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

func (set *Set) validateObject(s *Schema, x map[string]any, at string, partial bool, out *[]string) {
	bad := func(format string, args ...any) { *out = append(*out, at+": "+fmt.Sprintf(format, args...)) }
	if !partial {
		for _, k := range s.Required {
			if _, ok := x[k]; !ok {
				bad("required field %q is missing", k)
			}
		}
	}
	var extra *Schema
	closed := string(s.AdditionalProperties) == "false"
	if len(s.AdditionalProperties) > 0 && !closed {
		extra = new(Schema)
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
}

// JSONBody validates a response body that must be JSON of schema s.
func (set *Set) JSONBody(s *Schema, h http.Header, body []byte, partial bool) []string {
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return []string{fmt.Sprintf("Content-Type %q is not JSON", ct)}
	}
	v, err := Decode(body)
	if err != nil {
		return []string{fmt.Sprintf("body is not JSON: %v", err)}
	}
	return set.Validate(s, v, "$", partial)
}

// CheckFunc judges one response: the route it belongs to ("METHOD
// pattern", or a name in parentheses for answers outside the route table)
// and its problems.
type CheckFunc func(req *http.Request, status int, h http.Header, body []byte) (route string, problems []string)

// Checker is an http.RoundTripper that hands every response whose path
// starts with Prefix to Check and tallies the outcome per route and status.
type Checker struct {
	Next   http.RoundTripper
	Prefix []string
	Check  CheckFunc

	mu   sync.Mutex
	seen map[string]int // "METHOD pattern status" → responses
	bad  []string
}

// RoundTrip sends req through Next and checks the response.
func (c *Checker) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.Next.RoundTrip(req)
	if err != nil || !slices.ContainsFunc(c.Prefix, func(p string) bool { return strings.HasPrefix(req.URL.Path, p) }) {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	route, problems := c.Check(req, resp.StatusCode, resp.Header, body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	c.seen[fmt.Sprintf("%s %d", route, resp.StatusCode)]++
	for _, p := range problems {
		c.bad = append(c.bad, fmt.Sprintf("%s %s → %d: %s", req.Method, req.URL.RequestURI(), resp.StatusCode, p))
	}
	return resp, nil
}

// Report prints the tally under name, naming the routes of table
// (patterns as Check names them) that no response reached when -v is on,
// and every violation. It returns false when any response broke its
// schema.
func (c *Checker) Report(w io.Writer, name string, table []string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	routes := map[string]bool{}
	total, pairs := 0, 0
	for k, n := range c.seen {
		total += n
		route := k[:strings.LastIndex(k, " ")]
		if _, pattern, _ := strings.Cut(route, " "); strings.HasPrefix(route, "(") || strings.HasPrefix(pattern, "(") {
			continue
		}
		routes[route] = true
		pairs++
	}
	fmt.Fprintf(w, "%s response schemas: %d responses validated; %d routes (of %d in the table) × their statuses = %d pairs; %d violations\n",
		name, total, len(routes), len(table), pairs, len(c.bad))
	for _, r := range table {
		if !routes[r] && testing.Verbose() {
			fmt.Fprintln(w, "  not exercised:", r)
		}
	}
	for _, b := range c.bad {
		fmt.Fprintln(w, "  violation:", b)
	}
	return len(c.bad) == 0
}

// Route is one route of a dialect's table: its pattern as a ServeMux
// writes it ("GET /v1/storage/buckets/{name}") and the definition each
// success status answers with ("" for no body, "text/…" for a text body
// of that media type).
type Route struct {
	Pattern string
	OK      map[int]string
}

// Table is a CheckFunc for a route table: a success against its route's
// definition, every status from 400 up against errorDef, and an answer of
// a route or status the table does not know as a violation, so a new route
// cannot go unchecked.
func (set *Set) Table(routes []Route, errorDef string) (CheckFunc, error) {
	mux := http.NewServeMux()
	for _, r := range routes {
		mux.Handle(r.Pattern, http.NotFoundHandler())
		for status, def := range r.OK {
			if def == "" || strings.HasPrefix(def, "text/") {
				continue
			}
			if err := set.CheckRefs(Ref(def)); err != nil {
				return nil, fmt.Errorf("%s %d: %w", r.Pattern, status, err)
			}
		}
	}
	if err := set.CheckRefs(Ref(errorDef)); err != nil {
		return nil, err
	}
	return func(req *http.Request, status int, h http.Header, body []byte) (string, []string) {
		_, pattern := mux.Handler(req)
		route := req.Method + " (unrouted)"
		if pattern != "" {
			route = pattern
		}
		if status >= 400 {
			return route, set.JSONBody(Ref(errorDef), h, body, false)
		}
		i := slices.IndexFunc(routes, func(r Route) bool { return r.Pattern == pattern })
		def, ok := "", false
		if i >= 0 {
			def, ok = routes[i].OK[status]
		}
		switch {
		case !ok:
			return route, []string{fmt.Sprintf("no schema for status %d of this route", status)}
		case def == "":
			if len(body) != 0 {
				return route, []string{fmt.Sprintf("%d with a body", status)}
			}
			return route, nil
		case strings.HasPrefix(def, "text/"):
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, def) || len(body) == 0 {
				return route, []string{fmt.Sprintf("Content-Type %q, want a %s body", ct, def)}
			}
			return route, nil
		}
		return route, set.JSONBody(Ref(def), h, body, false)
	}, nil
}

// Main runs a dialect package's tests with a Checker of routes in front of
// http.DefaultClient (which testenv sends through), prints the tally and
// returns the exit code, failed when any response broke its schema. The
// schemas are testdata/schemas.json; prefix selects the dialect's paths.
func Main(m *testing.M, name string, routes []Route, errorDef string, prefix ...string) int {
	set, err := Load(filepath.Join("testdata", "schemas.json"), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	check, err := set.Table(routes, errorDef)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	checker := &Checker{Next: http.DefaultTransport, Prefix: prefix, Check: check}
	http.DefaultClient.Transport = checker
	code := m.Run()
	table := make([]string, 0, len(routes))
	for _, r := range routes {
		table = append(table, r.Pattern)
	}
	if !checker.Report(os.Stdout, name, table) && code == 0 {
		code = 1
	}
	return code
}
