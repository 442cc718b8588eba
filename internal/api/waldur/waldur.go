// Package waldur owns the Waldur dialect: Waldur's paths (with trailing
// slashes), token auth, undashed hex uuids, absolute hyperlinks, bare-array
// lists with X-Result-Count and Link headers, ?field= selection, and DRF's
// error bodies. It translates to the core and decides nothing itself.
package waldur

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/core/metering"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

// API serves the Waldur dialect.
type API struct {
	identity *identity.Service
	market   *marketplace.Service
	// vols is nil when the server runs without block storage; the
	// OpenStack routes are then not mounted.
	vols    *volume.Service
	surface httpapi.Surface
	log     *slog.Logger
	maxBody int64
	opts    Options
	// metering is nil when usage is not metered: usages are then empty.
	metering *metering.Service
}

// Options are the dialect's settings.
type Options struct {
	// ActionStatus answers the volume actions extend, retype, attach and
	// detach: 200 as the seed documents (and clients before mid-2026
	// expect) or 202 as current Waldur answers (and its current client
	// expects). Zero means 200.
	ActionStatus int
	// PublicURL, when set, is the base of every absolute link instead of
	// the request's scheme and Host.
	PublicURL string
}

// New builds the dialect over the core services.
func New(id *identity.Service, m *marketplace.Service, log *slog.Logger, maxBody int64) *API {
	a := &API{identity: id, market: m, log: log, maxBody: maxBody, opts: Options{ActionStatus: http.StatusOK}}
	a.surface = httpapi.Surface{Auth: id, Schemes: httpapi.Token, Render: a.render}
	return a
}

// WithOptions applies the dialect's settings.
func (a *API) WithOptions(o Options) *API {
	if o.ActionStatus == 0 {
		o.ActionStatus = http.StatusOK
	}
	a.opts = o
	return a
}

// WithVolumes adds the OpenStack volume, snapshot and instance routes.
func (a *API) WithVolumes(v *volume.Service) *API { a.vols = v; return a }

// Register mounts the dialect's routes on mux.
func (a *API) Register(mux httpapi.Mux) {
	if a.opts.PublicURL != "" {
		mux = linkMux{mux, a.opts.PublicURL}
	}
	pub, priv := a.surface.Public, a.surface.Private
	mux.Handle("POST /api-auth/password/{$}", pub(a.login))

	mux.Handle("GET /api/users/me/{$}", priv(a.me))
	mux.Handle("GET /api/customers/{$}", priv(a.listCustomers))
	mux.Handle("GET /api/customers/{uuid}/{$}", priv(a.getCustomer))
	mux.Handle("GET /api/projects/{$}", priv(a.listProjects))
	mux.Handle("GET /api/projects/{uuid}/{$}", priv(a.getProject))

	mux.Handle("GET /api/marketplace-categories/{$}", priv(a.listCategories))
	mux.Handle("GET /api/marketplace-categories/{uuid}/{$}", priv(a.getCategory))
	mux.Handle("GET /api/marketplace-public-offerings/{$}", priv(a.listOfferings))
	mux.Handle("GET /api/marketplace-public-offerings/{uuid}/{$}", priv(a.getOffering))
	mux.Handle("GET /api/marketplace-public-offerings/{uuid}/plans/{$}", priv(a.listOfferingPlans))
	mux.Handle("GET /api/marketplace-public-offerings/{uuid}/plans/{plan}/{$}", priv(a.getOfferingPlan))
	mux.Handle("GET /api/marketplace-plans/{$}", priv(a.listPlans))
	mux.Handle("GET /api/marketplace-plans/{uuid}/{$}", priv(a.getPlan))

	mux.Handle("GET /api/marketplace-orders/{$}", priv(a.listOrders))
	mux.Handle("POST /api/marketplace-orders/{$}", priv(a.createOrder))
	mux.Handle("GET /api/marketplace-orders/{uuid}/{$}", priv(a.getOrder))
	mux.Handle("DELETE /api/marketplace-orders/{uuid}/{$}", priv(a.deleteOrder))
	mux.Handle("POST /api/marketplace-orders/{uuid}/{action}/{$}", priv(a.orderAction))
	for _, m := range []string{"PUT", "PATCH"} {
		mux.Handle(m+" /api/marketplace-orders/{uuid}/{$}", priv(methodNotAllowed))
	}

	mux.Handle("GET /api/marketplace-component-usages/{$}", priv(a.listComponentUsages))
	mux.Handle("GET /api/marketplace-component-usages/{uuid}/{$}", priv(a.getComponentUsage))
	mux.Handle("GET /api/marketplace-resources/{$}", priv(a.listResources))
	mux.Handle("POST /api/marketplace-resources/{$}", priv(methodNotAllowed))
	mux.Handle("GET /api/marketplace-resources/{uuid}/{$}", priv(a.getResource))
	mux.Handle("DELETE /api/marketplace-resources/{uuid}/{$}", priv(methodNotAllowed))
	mux.Handle("POST /api/marketplace-resources/{uuid}/{action}/{$}", priv(a.resourceAction))

	if a.vols != nil {
		a.registerOpenStack(mux)
	}

	mux.Handle("/api/", pub(func(w http.ResponseWriter, r *http.Request) error { return errNotFound }))
}

// fieldErrors is a DRF serializer error: {"field": ["msg"], …}, possibly nested.
type fieldErrors map[string]any

func (f fieldErrors) Error() string { b, _ := json.Marshal(map[string]any(f)); return string(b) }

// detail is an error rendered as {"detail": msg} with a given status.
type detail struct {
	status int
	msg    string
}

func (d detail) Error() string { return d.msg }

var (
	errNotFound     = detail{http.StatusNotFound, "Not found."}
	errNoPermission = detail{http.StatusForbidden, "You do not have permission to perform this action."}
)

func methodNotAllowed(w http.ResponseWriter, r *http.Request) error {
	return detail{http.StatusMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", r.Method)}
}

// render writes errors as Django REST Framework does.
func (a *API) render(w http.ResponseWriter, r *http.Request, err error) {
	var status int
	var body any
	var fe fieldErrors
	var d detail
	switch {
	case errors.As(err, &fe):
		status, body = http.StatusBadRequest, fe
	case errors.As(err, &d):
		status, body = d.status, map[string]string{"detail": d.msg}
	default:
		status = httpapi.Status(err)
		msg := errs.Message(err)
		switch errs.KindOf(err) {
		case errs.Invalid, errs.Quota:
			status = http.StatusBadRequest
			if f := errs.FieldOf(err); f != "" {
				body = map[string][]string{f: {msg}}
			} else {
				body = []string{msg}
			}
		case errs.Unauthorized:
			msg = "Invalid token."
			if strings.Contains(errs.Message(err), "not provided") {
				msg = "Authentication credentials were not provided."
			}
		case errs.Permission:
			msg = errNoPermission.msg
		case errs.NotExist:
			msg = errNotFound.msg
		case errs.Internal, errs.Other:
			msg = "A server error occurred; request id " + httpapi.RequestID(r.Context())
		}
		if body == nil {
			body = map[string]string{"detail": msg}
		}
	}
	httpapi.LogError(a.log, r, status, err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Token")
	}
	_ = httpapi.WriteJSON(w, status, body)
}

// decode reads a JSON object body the way DRF does: other media types are
// 415, bad JSON is 400 with a parse message, unknown keys are ignored.
func (a *API) decode(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "application/json" {
			return detail{http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported media type %q in request.", mt)}
		}
	}
	err := httpapi.DecodeJSON(r, a.maxBody, dst, false)
	if err == nil {
		return nil
	}
	if errs.Is(err, errs.TooLarge) {
		return detail{http.StatusRequestEntityTooLarge, errs.Message(err)}
	}
	if f := errs.FieldOf(err); f != "" {
		return fieldErrors{f: []string{errs.Message(err)}}
	}
	return detail{http.StatusBadRequest, "JSON parse error - " + errs.Message(err)}
}

// hex renders an id as Waldur does: 32 hex characters without dashes.
func hex(id string) string { return strings.ReplaceAll(id, "-", "") }

// parseID accepts an id as undashed hex or dashed UUID and returns ours.
func parseID(s string) (string, bool) {
	s = strings.ToLower(strings.ReplaceAll(s, "-", ""))
	if len(s) != 32 {
		return "", false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:], true
}

// pathID reads the {uuid} path value; a malformed one is a 404 as in DRF.
func pathID(r *http.Request, name string) (string, error) {
	id, ok := parseID(r.PathValue(name))
	if !ok {
		return "", errNotFound
	}
	return id, nil
}

// ref resolves a reference given as an absolute hyperlink (matched on its
// path) or, as the WAYSCloud order seed sends it, a bare uuid. prefix is the
// collection path, e.g. "/api/projects/".
func ref(v any, field, prefix string) (string, error) {
	s, ok := v.(string)
	if !ok {
		if v == nil {
			return "", nil
		}
		return "", fieldErrors{field: []string{fmt.Sprintf("Incorrect type. Expected URL string, received %s.", jsonType(v))}}
	}
	if s == "" {
		return "", nil
	}
	if id, ok := parseID(s); ok {
		return id, nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Path == "" {
		return "", fieldErrors{field: []string{"Invalid hyperlink - No URL match."}}
	}
	rest, ok := strings.CutPrefix(u.Path, prefix)
	if !ok {
		return "", fieldErrors{field: []string{"Invalid hyperlink - Incorrect URL match."}}
	}
	id, ok := parseID(strings.TrimSuffix(rest, "/"))
	if !ok {
		return "", fieldErrors{field: []string{"Invalid hyperlink - No URL match."}}
	}
	return id, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case float64:
		return "int"
	case bool:
		return "bool"
	case map[string]any:
		return "dict"
	case []any:
		return "list"
	}
	return "str"
}

// baseKey carries the configured public URL to base.
type baseKey struct{}

// linkMux hands every handler the public URL its absolute links start
// with, so the links never echo a client's Host header.
type linkMux struct {
	httpapi.Mux
	base string
}

func (m linkMux) Handle(pattern string, h http.Handler) {
	m.Mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), baseKey{}, m.base)))
	}))
}

// base is what absolute urls start with: the public URL when one is set,
// else the scheme and host of the request.
func base(r *http.Request) string {
	if b, ok := r.Context().Value(baseKey{}).(string); ok {
		return b
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// pageOf reads DRF pagination: page is 1-based, page_size defaults to 10
// and is clamped to 300; an invalid page_size falls back to 10.
func pageOf(r *http.Request) (page, size int, err error) {
	q := r.URL.Query()
	size = 10
	if v := q.Get("page_size"); v != "" {
		if n, e := strconv.Atoi(v); e == nil && n > 0 {
			size = min(n, 300)
		}
	}
	page = 1
	if v := q.Get("page"); v != "" {
		n, e := strconv.Atoi(v)
		// No list has 2^31 pages; bounding the page keeps (page-1)*size
		// from overflowing into a negative offset.
		if e != nil || n < 1 || n > math.MaxInt32 {
			return 0, 0, detail{http.StatusNotFound, "Invalid page."}
		}
		page = n
	}
	return page, size, nil
}

// writePage writes a bare-array page with X-Result-Count and the Link
// header in the order first, prev, next, last.
func writePage(w http.ResponseWriter, r *http.Request, items []map[string]any, total, page, size int) error {
	last := max(1, (total+size-1)/size)
	if page > last {
		return detail{http.StatusNotFound, "Invalid page."}
	}
	link := func(p int) string {
		u := *r.URL
		q := u.Query()
		if p <= 1 {
			q.Del("page")
		} else {
			q.Set("page", strconv.Itoa(p))
		}
		u.RawQuery = q.Encode()
		return "<" + base(r) + u.RequestURI() + ">"
	}
	links := []string{link(1) + `; rel="first"`}
	if page > 1 {
		links = append(links, link(page-1)+`; rel="prev"`)
	}
	if page < last {
		links = append(links, link(page+1)+`; rel="next"`)
	}
	links = append(links, link(last)+`; rel="last"`)
	w.Header().Set("X-Result-Count", strconv.Itoa(total))
	w.Header().Set("Link", strings.Join(links, ", "))
	if items == nil {
		items = []map[string]any{}
	}
	for i := range items {
		items[i] = selectFields(r, items[i])
	}
	return httpapi.WriteJSON(w, http.StatusOK, items)
}

// refKeys are the hyperlink fields whose names do not say so.
var refKeys = map[string]bool{"project": true, "customer": true, "service_settings": true, "tenant": true, "instance": true,
	"type": true, "availability_zone": true, "source_snapshot": true, "source_volume": true, "offering": true, "plan": true,
	"category": true, "settings": true, "scope": true, "volume": true, "image": true}

// dropMissingRefs leaves out the uuid and hyperlink fields that point at
// nothing, as DRF leaves out a dotted source that resolves to nothing:
// Waldur's schema types them as uuids and urls, and a typed client refuses
// a whole object whose uuid field is null.
func dropMissingRefs(m map[string]any) {
	for k, v := range m {
		if v == nil && (k == "url" || refKeys[k] || strings.HasSuffix(k, "_uuid") || strings.HasSuffix(k, "_url")) {
			delete(m, k)
		}
	}
}

// selectFields applies ?field=a&field=b; unknown names are ignored, and
// with no known name every field is kept.
func selectFields(r *http.Request, m map[string]any) map[string]any {
	dropMissingRefs(m)
	fields := r.URL.Query()["field"]
	if len(fields) == 0 {
		return m
	}
	out := map[string]any{}
	for _, f := range fields {
		if v, ok := m[f]; ok {
			out[f] = v
		}
	}
	if len(out) == 0 {
		return m
	}
	return out
}

func writeOne(w http.ResponseWriter, r *http.Request, status int, m map[string]any) error {
	return httpapi.WriteJSON(w, status, selectFields(r, m))
}

// slice pages an in-memory list (used for small per-user lists).
func slice[T any](all []T, page, size int) []T {
	start := (page - 1) * size
	if start >= len(all) {
		return nil
	}
	return all[start:min(len(all), start+size)]
}
