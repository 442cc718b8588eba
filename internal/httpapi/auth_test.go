package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
	"github.com/stowage/stowage/internal/store/sqlstore"
)

type fixture struct {
	id       *identity.Service
	token    string
	password string
	session  string
	expired  string
	now      time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{now: time.Now()}
	clock := func() time.Time { return f.now }
	f.id, err = identity.NewService(st, identity.Options{JWTKey: make([]byte, 32), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.id.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.token, f.password = res.Token, res.Password
	p, err := f.id.AuthenticateToken(context.Background(), f.token)
	if err != nil {
		t.Fatal(err)
	}
	f.session, _ = f.id.IssueSession(p, time.Hour, "test")
	f.expired, _ = f.id.IssueSession(p, -time.Second, "test")
	return f
}

// serve exposes one private endpoint accepting schemes, rendering errors as
// a bare status so the test sees what the surface decided.
func (f *fixture) serve(t *testing.T, schemes httpapi.Scheme) *httptest.Server {
	s := httpapi.Surface{Auth: f.id, Schemes: schemes, Cookie: "AccessToken", Audience: "test",
		Render: func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(httpapi.Status(err)) }}
	srv := httptest.NewServer(s.Private(func(w http.ResponseWriter, r *http.Request) error {
		if httpapi.Principal(r.Context()).User.Username != "admin" {
			return errs.E(errs.Internal, "no principal")
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}))
	t.Cleanup(srv.Close)
	return srv
}

func status(t *testing.T, url string, set func(*http.Request)) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	set(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestEachSchemeWhereConfigured(t *testing.T) {
	f := newFixture(t)
	type attempt struct {
		name   string
		scheme httpapi.Scheme
		set    func(*http.Request)
	}
	attempts := []attempt{
		{"bearer token", httpapi.Bearer, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+f.token) }},
		{"bearer session", httpapi.Bearer, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+f.session) }},
		{"token keyword", httpapi.Token, func(r *http.Request) { r.Header.Set("Authorization", "Token "+f.token) }},
		{"token keyword lower case", httpapi.Token, func(r *http.Request) { r.Header.Set("Authorization", "token "+f.token) }},
		{"api key", httpapi.APIKey, func(r *http.Request) { r.Header.Set("X-API-Key", f.token) }},
		{"basic password", httpapi.Basic, func(r *http.Request) { r.SetBasicAuth("admin", f.password) }},
		{"basic token", httpapi.Basic, func(r *http.Request) { r.SetBasicAuth("admin", f.token) }},
		{"cookie", httpapi.Cookie, func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "AccessToken", Value: f.session}) }},
	}
	all := httpapi.Bearer | httpapi.Token | httpapi.APIKey | httpapi.Basic | httpapi.Cookie
	for _, a := range attempts {
		t.Run(a.name, func(t *testing.T) {
			if got := status(t, f.serve(t, a.scheme).URL, a.set); got != 204 {
				t.Errorf("accepted scheme: status %d", got)
			}
			if got := status(t, f.serve(t, all&^a.scheme).URL, a.set); got != 401 {
				t.Errorf("scheme not configured: status %d, want 401", got)
			}
		})
	}
}

func TestBadCredentials(t *testing.T) {
	f := newFixture(t)
	url := f.serve(t, httpapi.Bearer|httpapi.Token|httpapi.APIKey|httpapi.Basic|httpapi.Cookie).URL
	bad := map[string]func(*http.Request){
		"none": func(r *http.Request) {},
		"unknown token": func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer stw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
		},
		"expired session": func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+f.expired) },
		"forged session":  func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+f.session[:len(f.session)-2]+"xx") },
		"wrong password":  func(r *http.Request) { r.SetBasicAuth("admin", "nope") },
		"token of another user": func(r *http.Request) {
			r.SetBasicAuth("someone", f.token)
		},
		"expired cookie": func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "AccessToken", Value: f.expired}) },
		"unknown scheme": func(r *http.Request) { r.Header.Set("Authorization", "Digest x") },
	}
	for name, set := range bad {
		if got := status(t, url, set); got != 401 {
			t.Errorf("%s: status %d, want 401", name, got)
		}
	}
	// A session outlives nothing: advance the clock past its expiry.
	f.now = f.now.Add(2 * time.Hour)
	if got := status(t, url, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+f.session) }); got != 401 {
		t.Errorf("session after expiry: %d", got)
	}
}

// TestPasswordChecksAreRationed: with one hashing slot and no time to wait
// for it, simultaneous Basic logins (for a user that does not exist) are
// turned away as busy, 503 with Retry-After, rather than each taking its
// own argon2id memory; at least one is checked.
func TestPasswordChecksAreRationed(t *testing.T) {
	st, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id, err := identity.NewService(st, identity.Options{JWTKey: make([]byte, 32), HashSlots: 1, HashWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := httpapi.Surface{Auth: id, Schemes: httpapi.Basic,
		Render: func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(httpapi.Status(err)) }}
	srv := httptest.NewServer(s.Private(func(w http.ResponseWriter, r *http.Request) error { return nil }))
	t.Cleanup(srv.Close)
	type answer struct {
		status     int
		retryAfter string
	}
	answers := make(chan answer, 16)
	start := make(chan struct{})
	for i := 0; i < cap(answers); i++ {
		go func() {
			req, _ := http.NewRequest("GET", srv.URL, nil)
			req.SetBasicAuth("nobody", "guess")
			<-start
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- answer{}
				return
			}
			resp.Body.Close()
			answers <- answer{resp.StatusCode, resp.Header.Get("Retry-After")}
		}()
	}
	close(start)
	got := map[answer]int{}
	for i := 0; i < cap(answers); i++ {
		got[<-answers]++
	}
	// Past five checks the user's login limit answers instead (429).
	if got[answer{401, ""}] == 0 || got[answer{503, "1"}] == 0 || got[answer{401, ""}]+got[answer{429, "60"}]+got[answer{503, "1"}] != cap(answers) {
		t.Fatalf("16 simultaneous logins through one slot: %v; want some checked (401) and the rest 503 with Retry-After: 1", got)
	}
}
