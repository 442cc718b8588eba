package console

import (
	"crypto/subtle"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/bytesize"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
	"github.com/stowage/stowage/internal/jobs"
)

var funcs = template.FuncMap{
	"bytes": func(n int64) string { return bytesize.Format(n) },
	"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"path":  url.PathEscape,
	"query": url.QueryEscape,
	"gib":   gibOf,
	"count": countOf,
	"open":  projectLink,
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request, _ *session) error {
	return c.render(w, http.StatusOK, "login", &view{Title: "Sign in"})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request, _ *session) error {
	// No cookie protects a login form, so a login another site posts (to
	// sign the victim in as the attacker) is refused by origin instead.
	if err := sameOrigin(r); err != nil {
		return err
	}
	p, err := c.identity.AuthenticatePassword(r.Context(), strings.TrimSpace(r.PostFormValue("login")), r.PostFormValue("password"),
		httpapi.ClientIP(r))
	if errs.Is(err, errs.Unauthorized) {
		return c.render(w, http.StatusUnauthorized, "login", &view{Title: "Sign in",
			Message: "That login and password do not match an active account."})
	}
	if err != nil {
		return err
	}
	tok, exp := c.identity.IssueSession(p, sessionTTL, Audience)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: Base, Expires: exp, HttpOnly: true,
		Secure: c.secure || r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, Base, http.StatusSeeOther)
	return nil
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, _ *session) error {
	if ck, err := r.Cookie(sessionCookie); err == nil && ck.Value != "" {
		// Only the page holding the session may end it: a cross-site
		// logout is a nuisance, not a risk, but it costs nothing to refuse.
		if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(csrfToken(ck.Value))) != 1 {
			return errs.E(errs.Permission, "the form is stale; reload the page and try again")
		}
		if err := c.identity.EndSession(r.Context(), ck.Value, Audience); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: Base, MaxAge: -1, HttpOnly: true,
		Secure: c.secure || r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, Base+"login", http.StatusSeeOther)
	return nil
}

// home opens the project the switcher chose, or the caller's first one.
func (c *Console) home(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.URL.Query().Get("project")
	if id == "" {
		pr, err := c.identity.DefaultProject(r.Context(), s.p)
		if err != nil {
			return err
		}
		id = pr.ID
	}
	http.Redirect(w, r, Base+"projects/"+url.PathEscape(id), http.StatusSeeOther)
	return nil
}

// meter is one usage bar of the overview.
type meter struct {
	Label      string
	Used, Max  int64
	UsedText   string
	MaxText    string
	Percent    int
	Width      int // of 300
	Unlimited  bool
	Overloaded bool
}

func newMeter(label string, used int64, limit *int64, format func(int64) string) meter {
	m := meter{Label: label, Used: used, UsedText: format(used), Unlimited: limit == nil}
	if limit != nil {
		m.Max, m.MaxText = *limit, format(*limit)
		if *limit > 0 {
			m.Percent = int(min(used*100 / *limit, 100))
		} else if used > 0 {
			m.Percent = 100
		}
		m.Width = m.Percent * 3
		m.Overloaded = m.Percent >= 90
	}
	return m
}

type overviewData struct {
	Meters []meter
	Events []volume.Event
	Jobs   []jobs.Job
}

func count(n int64) string { return fmt.Sprint(n) }

func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	v, err := c.page(ctx, s, r.PathValue("id"), "overview", "Overview")
	if err != nil {
		return err
	}
	limits, usage, err := c.volumes.Quota(ctx, s.p, v.Project.ID)
	if err != nil {
		return err
	}
	bs, err := c.objects.Buckets(ctx, s.p, v.Project.ID)
	if err != nil {
		return err
	}
	var objectBytes int64
	for _, b := range bs {
		objectBytes += b.Bytes
	}
	d := overviewData{Meters: []meter{
		newMeter("Block storage", usage.StorageBytes, limits.StorageBytes, bytesize.Format),
		newMeter("Volumes", usage.Volumes, limits.Volumes, count),
		newMeter("Snapshots", usage.Snapshots, limits.Snapshots, count),
		newMeter("Buckets", int64(len(bs)), nil, count),
		newMeter("Object storage", objectBytes, nil, bytesize.Format),
	}}
	ev, err := c.volumes.Events(ctx, s.p, volume.EventFilter{ProjectID: v.Project.ID}, page.Request{Limit: 10})
	if err != nil {
		return err
	}
	d.Events = ev.Items
	for _, st := range []jobs.State{jobs.Running, jobs.Queued} {
		js, err := c.jobs.List(ctx, s.p.Scope(), jobs.Filter{State: st}, page.Request{Limit: 20})
		if err != nil {
			return err
		}
		for _, j := range js.Items {
			if j.ProjectID == v.Project.ID {
				d.Jobs = append(d.Jobs, j)
			}
		}
	}
	v.Data = d
	return c.render(w, http.StatusOK, "overview", v)
}

// job answers the page's progress poll.
func (c *Console) job(w http.ResponseWriter, r *http.Request, s *session) error {
	j, err := c.jobs.Get(r.Context(), s.p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	done := slices.Contains([]jobs.State{jobs.Succeeded, jobs.Failed, jobs.Cancelled}, j.State)
	w.Header().Set("Cache-Control", "no-store")
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"id": j.ID, "kind": j.Kind, "state": j.State, "done": done, "error": j.Error})
}
