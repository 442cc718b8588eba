package httpapi

import (
	"net/http"
	"slices"
)

// Mux is where a surface mounts its routes. *http.ServeMux is one; the
// server passes a RecordingMux so that the list of patterns a node serves
// comes from the registrations themselves, and a test walking that list
// (the tenant isolation matrix) cannot miss a route someone adds later.
type Mux interface {
	Handle(pattern string, h http.Handler)
	// Handler reports the handler and pattern a request would match;
	// CloudSigma uses it to answer OPTIONS and 405 for known paths.
	Handler(r *http.Request) (h http.Handler, pattern string)
}

// Allowed lists the methods m routes r's path for, in a fixed order, for
// the Allow header of a 405 and for OPTIONS. Patterns in except (a
// surface's catch-all, which takes every method) do not count.
func Allowed(m Mux, r *http.Request, except ...string) []string {
	var out []string
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPost, http.MethodPatch} {
		probe := r.Clone(r.Context())
		probe.Method = method
		// ServeMux answers a path it knows only for other methods with
		// its own 405 handler and an empty pattern.
		if _, pat := m.Handler(probe); pat != "" && !slices.Contains(except, pat) {
			out = append(out, method)
		}
	}
	return out
}

// RecordingMux is an http.ServeMux that remembers every pattern
// registered on it, in order.
type RecordingMux struct {
	*http.ServeMux
	patterns []string
}

// NewRecordingMux returns an empty mux.
func NewRecordingMux() *RecordingMux { return &RecordingMux{ServeMux: http.NewServeMux()} }

// Handle registers h for pattern and records the pattern.
func (m *RecordingMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// HandleFunc registers f for pattern and records the pattern.
func (m *RecordingMux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

// Patterns returns the registered patterns in registration order.
func (m *RecordingMux) Patterns() []string { return slices.Clone(m.patterns) }
