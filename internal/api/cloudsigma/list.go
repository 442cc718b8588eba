package cloudsigma

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/httpapi"
)

// defaultLimit is Tastypie's page size; limit=0 asks for everything.
const defaultLimit = 20

// window is a parsed limit/offset.
type window struct{ limit, offset int }

func parseWindow(q url.Values) (window, error) {
	w := window{limit: defaultLimit}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"limit", &w.limit}, {"offset", &w.offset}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return w, newError(http.StatusBadRequest, "validation", p.name, "%s must be a non-negative integer", p.name)
			}
			*p.dst = n
		}
	}
	return w, nil
}

// slice applies the window to n items, returning the bounds.
func (w window) slice(n int) (int, int) {
	lo := min(w.offset, n)
	hi := n
	if w.limit > 0 {
		hi = min(lo+w.limit, n)
	}
	return lo, hi
}

func (w window) meta(total int) map[string]any {
	return map[string]any{"limit": w.limit, "offset": w.offset, "total_count": total}
}

// orValues splits one filter value into its alternatives: commas separate
// them, and a backslash escapes a comma or a backslash.
func orValues(v string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == '\\' && i+1 < len(v) && (v[i+1] == ',' || v[i+1] == '\\'):
			cur.WriteByte(v[i+1])
			i++
		case v[i] == ',':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(v[i])
		}
	}
	return append(out, cur.String())
}

// driveFilter reports whether v passes every filter of q: separate (and
// repeated) parameters are ANDed, comma-separated values ORed.
func driveFilter(q url.Values) func(v volume.Volume) bool {
	type test func(v volume.Volume, alt string) bool
	tests := map[string]test{
		"name": func(v volume.Volume, alt string) bool { return v.Name == alt },
		"name__contains": func(v volume.Volume, alt string) bool {
			return strings.Contains(strings.ToLower(v.Name), strings.ToLower(alt))
		},
		"uuid":   func(v volume.Volume, alt string) bool { return v.ID == alt },
		"tag":    func(v volume.Volume, alt string) bool { return slices.Contains(v.Tags, alt) },
		"status": func(v volume.Volume, alt string) bool { return status(v) == alt },
	}
	return func(v volume.Volume) bool {
		for key, vals := range q {
			t, ok := tests[key]
			if !ok {
				continue // reserved parameters and unknown filters
			}
			for _, val := range vals {
				if !slices.ContainsFunc(orValues(val), func(alt string) bool { return t(v, alt) }) {
					return false
				}
			}
		}
		return true
	}
}

func (a *API) listDrives(detail bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		win, err := parseWindow(q)
		if err != nil {
			return err
		}
		project, err := a.account(r.Context())
		if err != nil {
			return err
		}
		d, err := a.view(r.Context(), project)
		if err != nil {
			return err
		}
		keep := driveFilter(q)
		var hits []volume.Volume
		for _, v := range d.all {
			if keep(v) {
				hits = append(hits, v)
			}
		}
		switch q.Get("order_by") {
		case "name":
			slices.SortStableFunc(hits, func(x, y volume.Volume) int { return strings.Compare(x.Name, y.Name) })
		case "-name":
			slices.SortStableFunc(hits, func(x, y volume.Volume) int { return strings.Compare(y.Name, x.Name) })
		case "uuid":
			slices.SortStableFunc(hits, func(x, y volume.Volume) int { return strings.Compare(x.ID, y.ID) })
		case "-uuid":
			slices.SortStableFunc(hits, func(x, y volume.Volume) int { return strings.Compare(y.ID, x.ID) })
		}
		lo, hi := win.slice(len(hits))
		fields := fieldsParam(r)
		out := make([]any, 0, hi-lo)
		for _, v := range hits[lo:hi] {
			var obj map[string]any
			switch {
			case fields != nil:
				obj = pick(d.full(v), fields)
			case detail:
				obj = d.full(v)
			default:
				obj = d.short(v)
			}
			out = append(out, obj)
		}
		writeJSON(w, http.StatusOK, map[string]any{"meta": win.meta(len(hits)), "objects": out})
		return nil
	}
}

// matchFilters reports whether every filter of q that tests knows holds:
// filters are ANDed, and each is an OR of its comma-separated values.
func matchFilters(q map[string][]string, tests map[string]func(alt string) bool) bool {
	for key, vals := range q {
		t, ok := tests[key]
		if !ok {
			continue
		}
		for _, v := range vals {
			if !slices.ContainsFunc(orValues(v), t) {
				return false
			}
		}
	}
	return true
}
