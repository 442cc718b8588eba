// Package console is Stowage's web console: server-rendered pages (with a
// little hand-written JavaScript for uploads, live job progress and copy
// buttons) served by the API listener under /console/. Every page and form
// calls the same core services as the native API with the signed-in
// principal, so the console holds no rule of its own: what a caller may see
// or do is what the core answers.
package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/core/objectstorage"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/pool"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
	"github.com/stowage/stowage/internal/jobs"
)

// Audience names console sessions: a console cookie is no Bearer session
// for any API face, and theirs are not console cookies.
const Audience = "console"

// Base is where the console lives; "/" sends browsers here.
const Base = "/console/"

const (
	sessionCookie = "stowage_console"
	sessionTTL    = 12 * time.Hour
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Console serves the web console.
type Console struct {
	identity   *identity.Service
	jobs       *jobs.Service
	volumes    *volume.Service
	objects    *objectstorage.Manager
	pools      *pool.Service
	market     *marketplace.Service
	s3Endpoint func() string
	log        *slog.Logger
	maxBody    int64
	pages      map[string]*template.Template
	assets     http.Handler
	// secure marks the session cookie Secure even on a plain connection:
	// TLS ends at a proxy in front of the node (--public-url https://…).
	secure bool
}

// WithSecureCookies marks the session cookie Secure on every connection.
func (c *Console) WithSecureCookies(on bool) *Console {
	c.secure = on
	return c
}

// New builds the console over the core services.
func New(id *identity.Service, js *jobs.Service, vols *volume.Service, objects *objectstorage.Manager, s3Endpoint func() string,
	log *slog.Logger, maxBody int64) (*Console, error) {
	c := &Console{identity: id, jobs: js, volumes: vols, objects: objects, s3Endpoint: s3Endpoint, log: log, maxBody: maxBody,
		pages: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	base := template.New("layout.html").Funcs(funcs)
	if base, err = base.ParseFS(templateFS, "templates/layout.html"); err != nil {
		return nil, err
	}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, err
		}
		c.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, err
	}
	c.assets = http.StripPrefix(Base+"assets/", http.FileServerFS(sub))
	return c, nil
}

// handler is a console page or form: it returns an error to be shown as a
// page in words.
type handler func(w http.ResponseWriter, r *http.Request, s *session) error

// session is the signed-in caller of one request.
type session struct {
	p identity.Principal
	// csrf is the token every write must carry; empty when the request
	// was authenticated by a Bearer token, which a browser never sends on
	// its own.
	csrf string
}

// CSRF is the token the page's forms and scripts send back.
func (s *session) CSRF() string { return s.csrf }

// Staff says whether to offer the operator's page (the core still
// decides what it shows).
func (s *session) Staff() bool { return s.p.User.Staff }

// User names the caller in the header.
func (s *session) User() string { return s.p.User.Username }

// Route is one console endpoint; test/isolation walks them like every
// other face's.
type Route struct {
	Method, Path string
	Public       bool
	h            handler
}

// Routes lists every console endpoint.
func (c *Console) Routes() []Route {
	return []Route{
		{Method: "GET", Path: Base + "login", Public: true, h: c.loginPage},
		{Method: "POST", Path: Base + "login", Public: true, h: c.login},
		{Method: "POST", Path: Base + "logout", Public: true, h: c.logout},
		{Method: "GET", Path: Base + "assets/{file}", Public: true, h: c.asset},

		{Method: "GET", Path: Base + "{$}", h: c.home},
		{Method: "GET", Path: Base + "projects/{id}", h: c.overview},
		{Method: "GET", Path: Base + "jobs/{id}", h: c.job},

		{Method: "GET", Path: Base + "projects/{id}/volumes", h: c.volumeList},
		{Method: "POST", Path: Base + "projects/{id}/volumes", h: c.volumeCreate},
		{Method: "GET", Path: Base + "volumes/{id}", h: c.volumePage},
		{Method: "POST", Path: Base + "volumes/{id}/{action}", h: c.volumeAction},

		{Method: "GET", Path: Base + "projects/{id}/snapshots", h: c.snapshotList},
		{Method: "GET", Path: Base + "snapshots/{id}", h: c.snapshotPage},
		{Method: "POST", Path: Base + "snapshots/{id}/{action}", h: c.snapshotAction},
		{Method: "GET", Path: Base + "projects/{id}/instances", h: c.instanceList},
		{Method: "POST", Path: Base + "projects/{id}/instances", h: c.instanceCreate},
		{Method: "GET", Path: Base + "instances/{id}", h: c.instancePage},
		{Method: "POST", Path: Base + "instances/{id}/{action}", h: c.instanceAction},

		{Method: "GET", Path: Base + "projects/{id}/buckets", h: c.bucketList},
		{Method: "POST", Path: Base + "projects/{id}/buckets", h: c.bucketCreate},
		{Method: "GET", Path: Base + "projects/{id}/buckets/{name}", h: c.bucketPage},
		{Method: "GET", Path: Base + "projects/{id}/buckets/{name}/object", h: c.object},
		{Method: "POST", Path: Base + "projects/{id}/buckets/{name}/{action}", h: c.bucketAction},

		{Method: "GET", Path: Base + "projects/{id}/members", h: c.memberList},
		{Method: "POST", Path: Base + "projects/{id}/members", h: c.memberAdd},
		{Method: "POST", Path: Base + "projects/{id}/members/{user_id}/remove", h: c.memberRemove},
		{Method: "GET", Path: Base + "tokens", h: c.tokenList},
		{Method: "POST", Path: Base + "tokens", h: c.tokenCreate},
		{Method: "POST", Path: Base + "tokens/{id}/revoke", h: c.tokenRevoke},

		{Method: "GET", Path: Base + "projects/{id}/catalog", h: c.catalog},
		{Method: "POST", Path: Base + "projects/{id}/orders", h: c.order},
		{Method: "GET", Path: Base + "orders/{id}", h: c.orderPage},
		{Method: "POST", Path: Base + "orders/{id}/{action}", h: c.orderAction},

		{Method: "GET", Path: Base + "admin", h: c.operator},
		{Method: "POST", Path: Base + "admin/{action}", h: c.operatorAction},

		{Method: "GET", Path: Base + "projects/{id}/credentials", h: c.credentialList},
		{Method: "POST", Path: Base + "projects/{id}/credentials", h: c.credentialCreate},
		{Method: "POST", Path: Base + "projects/{id}/credentials/{key}/revoke", h: c.credentialRevoke},
	}
}

// Register mounts the console, and sends browsers that open "/" to it.
func (c *Console) Register(mux httpapi.Mux) {
	for _, rt := range c.Routes() {
		mux.Handle(rt.Method+" "+rt.Path, c.wrap(rt))
	}
	mux.Handle("GET /{$}", http.RedirectHandler(Base, http.StatusSeeOther))
}

func (c *Console) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' "+c.s3Origin()+"; img-src 'self' data:; "+
			"frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		if r.Method != http.MethodGet {
			r.Body = http.MaxBytesReader(w, r.Body, c.maxBody)
		}
		var s *session
		var err error
		if !rt.Public {
			s, err = c.authenticate(r)
			if err != nil && errs.Is(err, errs.Unauthorized) && r.Method == http.MethodGet {
				// The sign-in form in place, not a redirect: the page
				// answers 401 like every face, and names nothing.
				if rerr := c.render(w, http.StatusUnauthorized, "login", &view{Title: "Sign in", Message: errs.Message(err)}); rerr != nil {
					c.fail(w, r, nil, rerr)
				}
				return
			}
		}
		if err == nil {
			err = rt.h(w, r, s)
		}
		if err != nil {
			c.fail(w, r, s, err)
		}
	})
}

// authenticate takes a console session cookie (a browser) or a Bearer
// token (scripts and the isolation matrices). A write under a cookie must
// carry the session's CSRF token and come from this origin.
func (c *Console) authenticate(r *http.Request) (*session, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		kw, cred, _ := strings.Cut(strings.TrimSpace(h), " ")
		if !strings.EqualFold(kw, "Bearer") {
			return nil, errs.E(errs.Unauthorized, "unsupported authorization scheme")
		}
		p, err := c.identity.AuthenticateToken(ctx, strings.TrimSpace(cred))
		if err != nil {
			return nil, err
		}
		return &session{p: p}, nil
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, errs.E(errs.Unauthorized, "sign in first")
	}
	p, err := c.identity.AuthenticateSession(ctx, ck.Value, Audience)
	if err != nil {
		return nil, err
	}
	s := &session{p: p, csrf: csrfToken(ck.Value)}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := sameOrigin(r); err != nil {
			return nil, err
		}
		got := r.Header.Get("X-CSRF-Token")
		if got == "" {
			got = r.PostFormValue("csrf")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
			return nil, errs.E(errs.Permission, "the form is stale or came from another site; reload the page and try again")
		}
	}
	return s, nil
}

// csrfToken is derived from the session cookie, which only the browser
// holding it (HttpOnly) and this node know, so another site can neither
// read nor compute it.
func csrfToken(cookie string) string {
	m := hmac.New(sha256.New, []byte(cookie))
	m.Write([]byte("stowage console csrf"))
	return hex.EncodeToString(m.Sum(nil))
}

// sameOrigin refuses a write a browser says came from another site.
func sameOrigin(r *http.Request) error {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return errs.E(errs.Permission, "cross-site write refused (Sec-Fetch-Site: %s)", site)
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return errs.E(errs.Permission, "cross-origin write refused (Origin: %s)", o)
		}
	}
	return nil
}

// view is what every page template gets.
type view struct {
	Title    string
	Nav      string
	S        *session
	Project  *identity.Project
	Projects []projectChoice
	CanWrite bool
	Data     any
	Status   int
	Message  string
}

type projectChoice struct {
	identity.Project
	Org      string
	Selected bool
}

func (c *Console) render(w http.ResponseWriter, status int, name string, v *view) error {
	t, ok := c.pages[name]
	if !ok {
		return errs.E(errs.Internal, "no page %q", name)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", v); err != nil {
		return errs.Wrap(errs.Internal, "render page", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write([]byte(b.String()))
	return err
}

// fail shows an error as a page in words, with the status the native API
// would answer; refusals are the core's own messages.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	status := httpapi.Status(err)
	msg := errs.Message(err)
	title := "Refused"
	switch {
	case status == http.StatusNotFound:
		title, msg = "Not found", "There is nothing here, or it is not yours to see."
	case status >= 500:
		c.log.Error("console request failed", "path", r.URL.Path, "err", err)
		title, msg = "Something went wrong", "The request failed on the server; try again."
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "60")
	}
	v := &view{Title: title, S: s, Status: status, Message: msg}
	if rerr := c.render(w, status, "error", v); rerr != nil {
		c.log.Error("console render failed", "err", rerr)
		http.Error(w, msg, status)
	}
}

// page fills the common part of a project page: the project, the
// switcher and whether the caller may change things (the core's answer).
func (c *Console) page(ctx context.Context, s *session, projectID, nav, title string) (*view, error) {
	pr, err := c.identity.GetProject(ctx, s.p, projectID)
	if err != nil {
		return nil, err
	}
	v := &view{Title: title, Nav: nav, S: s, Project: &pr}
	v.CanWrite = c.identity.RequireProjectRole(ctx, s.p, pr.ID, access.Member) == nil
	ps, err := c.identity.ListProjects(ctx, s.p, identity.ProjectFilter{}, page.Request{Limit: page.MaxLimit})
	if err != nil {
		return nil, err
	}
	orgs := map[string]string{}
	for _, p := range ps.Items {
		if _, ok := orgs[p.OrganisationID]; !ok {
			orgs[p.OrganisationID] = p.OrganisationID
			if o, err := c.identity.GetOrganisation(ctx, s.p, p.OrganisationID); err == nil {
				orgs[p.OrganisationID] = o.Name
			}
		}
		v.Projects = append(v.Projects, projectChoice{Project: p, Org: orgs[p.OrganisationID], Selected: p.ID == pr.ID})
	}
	return v, nil
}

func (c *Console) asset(w http.ResponseWriter, r *http.Request, _ *session) error {
	w.Header().Set("Cache-Control", "public, max-age=300")
	c.assets.ServeHTTP(w, r)
	return nil
}

// s3Origin is the S3 listener's origin, which the page's uploads talk to.
func (c *Console) s3Origin() string {
	u, err := url.Parse(c.s3Endpoint())
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
