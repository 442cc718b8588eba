package jsonschema_test

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/testenv/jsonschema"
)

const schemas = `{"definitions": {
  "thing": {"type": "object", "required": ["id", "state", "size"], "additionalProperties": false,
    "properties": {"id": {"type": "string", "format": "uuid"}, "state": {"type": "string", "enum": ["ok", "bad"]},
      "size": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}},
      "at": {"type": "string", "format": "date-time"}, "note": {"type": ["string", "null"]}}},
  "error": {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}}}`

// TestValidateReportsEveryFault: the checker is not a rubber stamp; each
// kind of fault a typed client trips on is reported, and a good body is not.
func TestValidateReportsEveryFault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "schemas.json")
	if err := os.WriteFile(path, []byte(schemas), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := jsonschema.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := `{"id": "0190e3c2-8a4e-7b3c-9d2e-1f2a3b4c5d6e", "state": "ok", "size": 3, "tags": ["a"], "at": "2026-12-02T08:00:00Z", "note": null}`
	h := http.Header{"Content-Type": {"application/json"}}
	if errs := set.JSONBody(jsonschema.Ref("thing"), h, []byte(good), false); len(errs) != 0 {
		t.Fatalf("a good body: %v", errs)
	}
	for fault, edit := range map[string][2]string{
		"is not one of":          {`"state": "ok"`, `"state": "fine"`},
		"is not a uuid":          {`"id": "0190e3c2-8a4e-7b3c-9d2e-1f2a3b4c5d6e"`, `"id": "x-1"`},
		"null where":             {`"size": 3`, `"size": null`},
		"where the schema wants": {`"size": 3`, `"size": 3.5`},
		"is missing":             {`"state": "ok", `, ``},
		"is not in the schema":   {`"note": null`, `"note": null, "extra": 1`},
		"is not a date-time":     {`2026-12-02T08:00:00Z`, `yesterday`},
		"string]":                {`["a"]`, `[1]`},
	} {
		bad := strings.Replace(good, edit[0], edit[1], 1)
		if errs := set.JSONBody(jsonschema.Ref("thing"), h, []byte(bad), false); !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, fault) }) {
			t.Errorf("%s: not reported, got %v", fault, errs)
		}
	}
	if errs := set.JSONBody(jsonschema.Ref("thing"), http.Header{"Content-Type": {"text/html"}}, []byte(good), false); len(errs) == 0 {
		t.Error("a body that is not JSON by its Content-Type passed")
	}

	check, err := set.Table([]jsonschema.Route{{Pattern: "GET /things/{id}", OK: map[int]string{200: "thing", 204: ""}}}, "error")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://x/things/1", nil)
	for _, c := range []struct {
		status int
		body   string
		faults int
	}{{200, good, 0}, {204, "", 0}, {204, "x", 1}, {201, good, 1}, {404, `{"message": "no"}`, 0}, {404, `{"detail": "no"}`, 1}} {
		if route, errs := check(req, c.status, h, []byte(c.body)); route != "GET /things/{id}" || len(errs) != c.faults {
			t.Errorf("%d %s: %s %v, want %d faults", c.status, c.body, route, errs, c.faults)
		}
	}
	if _, err := set.Table([]jsonschema.Route{{Pattern: "GET /x", OK: map[int]string{200: "nothing"}}}, "error"); err == nil {
		t.Error("a table naming an unknown definition was accepted")
	}
}
