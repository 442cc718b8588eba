package console

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

// TestConsoleSession checks the session cookie's flags and that every
// write under it needs the page's CSRF token and this origin, over plain
// HTTP as a forger would send it.
func TestConsoleSession(t *testing.T) {
	e := testenv.Start(t)
	admin := e.AdminToken
	var me map[string]any
	e.Do("GET", "/api/v1/users/me", testenv.Bearer(admin), nil).JSON(t, &me)
	user := me["username"].(string)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, form url.Values, h http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", e.URL(path), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := c.Get(e.URL(path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// "/" sends browsers to the console; without a session it asks for one.
	if resp, err := c.Get(e.URL("/")); err != nil || resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("GET / answered %v %v, want a redirect to /console/", resp, err)
	}
	if st, body := get("/console/"); st != http.StatusUnauthorized || !strings.Contains(body, `id="signin"`) {
		t.Fatalf("the console without a session answered %d, not the sign-in form", st)
	}

	// A login from another site is refused before the password is looked at.
	if r := post("/console/login", url.Values{"login": {user}, "password": {"whatever"}}, http.Header{"Origin": {"https://evil.example"}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-origin login answered %d, want 403", r.StatusCode)
	}
	if r := post("/console/login", url.Values{"login": {user}, "password": {"wrong password"}}, nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong password answered %d, want 401", r.StatusCode)
	}
	// A token in the password's place works, as for every face's login.
	r := post("/console/login", url.Values{"login": {user}, "password": {admin}}, nil)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login answered %d", r.StatusCode)
	}
	var session *http.Cookie
	for _, ck := range r.Cookies() {
		if ck.Name == "stowage_console" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/console/" {
		t.Fatalf("the session cookie is %+v, want HttpOnly, SameSite=Strict, Path=/console/", session)
	}
	if session.Secure {
		t.Errorf("the session cookie is Secure on plain HTTP, so a browser would drop it")
	}

	// A session cookie is not a Bearer session of the native API.
	if st := e.Do("GET", "/api/v1/users/me", testenv.Bearer(session.Value), nil).Status; st != http.StatusUnauthorized {
		t.Errorf("the console cookie as a native Bearer session answered %d, want 401", st)
	}

	// With a session the console opens the first project.
	resp, err := c.Get(e.URL("/console/"))
	if err != nil {
		t.Fatal(err)
	}
	project := resp.Header.Get("Location")
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(project, "/console/projects/") {
		t.Fatalf("the console with a session answered %d to %q", resp.StatusCode, project)
	}
	_, page := get(project + "/credentials")
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]{64})"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the credentials page: %.500s", page)
	}
	csrf := m[1]
	keys := func() int {
		var l struct{ Items []any }
		e.Do("GET", "/api/v1/projects/"+strings.TrimPrefix(project, "/console/projects/")+"/credentials", testenv.Bearer(admin), nil).JSON(t, &l)
		return len(l.Items)
	}
	before := keys()
	for _, c := range []struct {
		what string
		form url.Values
		h    http.Header
	}{
		{"no token", url.Values{"description": {"forged"}}, nil},
		{"a wrong token", url.Values{"description": {"forged"}, "csrf": {strings.Repeat("0", 64)}}, nil},
		{"another site (Sec-Fetch-Site)", url.Values{"description": {"forged"}, "csrf": {csrf}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"another origin", url.Values{"description": {"forged"}, "csrf": {csrf}}, http.Header{"Origin": {"https://evil.example"}}},
	} {
		if r := post(project+"/credentials", c.form, c.h); r.StatusCode != http.StatusForbidden {
			t.Errorf("a write with %s answered %d, want 403", c.what, r.StatusCode)
		}
	}
	if n := keys(); n != before {
		t.Fatalf("refused writes made %d keys", n-before)
	}
	if r := post(project+"/credentials", url.Values{"description": {"mine"}, "csrf": {csrf}}, http.Header{"Origin": {"http://" + e.Addrs.API}}); r.StatusCode != http.StatusCreated {
		t.Fatalf("the page's own write answered %d, want 201", r.StatusCode)
	}
	if n := keys(); n != before+1 {
		t.Errorf("the page's own write made %d keys, want 1", n-before)
	}

	// Signing out ends the session: a copy of the cookie no longer works.
	if r := post("/console/logout", url.Values{"csrf": {csrf}}, nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout answered %d", r.StatusCode)
	}
	req, _ := http.NewRequest("GET", e.URL(project), nil)
	req.AddCookie(session)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the ended session's cookie still opens the console: %d", resp.StatusCode)
	}
}

// TestConsoleCookieSecureBehindTLSProxy: with an https public URL, TLS ends
// at a proxy, so the cookie is Secure although the node sees plain HTTP.
func TestConsoleCookieSecureBehindTLSProxy(t *testing.T) {
	e := testenv.Start(t, func(c *config.Config) { c.PublicURL = "https://storage.example" })
	var me map[string]any
	e.Do("GET", "/api/v1/users/me", testenv.Bearer(e.AdminToken), nil).JSON(t, &me)
	form := url.Values{"login": {me["username"].(string)}, "password": {e.AdminToken}}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(e.URL("/console/login"), form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "stowage_console" {
			session = ck
		}
	}
	if session == nil || !session.Secure {
		t.Errorf("the session cookie behind an https public URL is %+v, want Secure", session)
	}
}

// TestS3TrustsOnlyTheConsoleOrigin: the page uploads straight to the S3
// listener, so S3 answers CORS for the console's own origin on a bucket
// with no CORS rules, and for no other origin.
func TestS3TrustsOnlyTheConsoleOrigin(t *testing.T) {
	e := testenv.Start(t)
	var projects struct{ Items []map[string]any }
	e.Do("GET", "/api/v1/projects", testenv.Bearer(e.AdminToken), nil).JSON(t, &projects)
	pid := projects.Items[0]["id"].(string)
	if r := e.Do("POST", "/api/v1/projects/"+pid+"/buckets", testenv.Bearer(e.AdminToken), map[string]any{"name": "cors-probe"}); r.Status != 201 {
		t.Fatalf("create bucket: %d %s", r.Status, r.Body)
	}
	preflight := func(origin string) (int, http.Header) {
		req, _ := http.NewRequest(http.MethodOptions, "http://"+e.Addrs.S3+"/cors-probe/big.bin?partNumber=1&uploadId=x", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "PUT")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	console := "http://" + e.Addrs.API
	if st, h := preflight(console); st != 200 || h.Get("Access-Control-Allow-Origin") != console ||
		!strings.Contains(h.Get("Access-Control-Expose-Headers"), "ETag") || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "content-type") {
		t.Errorf("the console's preflight answered %d %v", st, h)
	}
	if st, h := preflight("https://evil.example"); st != 403 || h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin's preflight answered %d %v, want 403 with no CORS headers", st, h)
	}
}
