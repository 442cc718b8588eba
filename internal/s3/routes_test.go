package s3_test

import (
	"slices"
	"testing"

	"github.com/stowage/stowage/internal/s3"
)

// TestRoutesReachable checks that no route is shadowed by an earlier one
// that matches every request it would: the first match wins, so a general
// row above a specific one would make the specific operation unreachable.
func TestRoutesReachable(t *testing.T) {
	rs := s3.Routes()
	for i, r := range rs {
		for _, prev := range rs[:i] {
			if prev.Method != r.Method || prev.Scope != r.Scope {
				continue
			}
			subset := true
			for _, q := range prev.Query {
				subset = subset && slices.Contains(r.Query, q)
			}
			if subset && (prev.Header == "" || prev.Header == r.Header) {
				t.Errorf("%s %s %v %q (%s) is shadowed by %v %q (%s)", r.Method, r.Scope, r.Query, r.Header, r.Op, prev.Query, prev.Header, prev.Op)
			}
		}
	}
	if len(rs) < 40 {
		t.Fatalf("only %d routes", len(rs))
	}
}
