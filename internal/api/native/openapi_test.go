package native

import (
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestOpenAPIMatchesRoutes keeps the document honest: every registered
// route is documented and every documented operation is routed.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	var documented, routed []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
			if _, ok := op["responses"]; !ok {
				t.Errorf("%s %s has no responses", method, path)
			}
		}
	}
	for _, rt := range New(nil, nil, nil, nil, nil, slog.New(slog.DiscardHandler), 1).Routes() {
		routed = append(routed, rt.Method+" "+rt.Path)
	}
	sort.Strings(documented)
	sort.Strings(routed)
	if diff := cmp.Diff(routed, documented); diff != "" {
		t.Errorf("routes (-) and OpenAPI document (+) differ:\n%s", diff)
	}
}
