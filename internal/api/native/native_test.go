package native_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

type project struct {
	ID             string `json:"id"`
	OrganisationID string `json:"organisation_id"`
	Name           string `json:"name"`
}

type listOf[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

type problem struct {
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Detail    string `json:"detail"`
	Field     string `json:"field"`
	RequestID string `json:"request_id"`
}

func wantStatus(t *testing.T, r testenv.Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
}

func wantProblem(t *testing.T, r testenv.Response, status int, code string) problem {
	t.Helper()
	wantStatus(t, r, status)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	var p problem
	r.JSON(t, &p)
	if p.Code != code || p.Status != status || p.Detail == "" {
		t.Fatalf("problem %+v, want code %s", p, code)
	}
	if p.RequestID == "" || p.RequestID != r.Header.Get("X-Request-Id") {
		t.Fatalf("problem request id %q vs header %q", p.RequestID, r.Header.Get("X-Request-Id"))
	}
	return p
}

// tenant is a user with their own organisation and project.
type tenant struct {
	user, password, token string
	org, project          string
}

// newTenant creates, as the admin, an organisation owned by a new user and a
// project in it, and logs the user in with a token of their own.
func newTenant(t *testing.T, e *testenv.Env, name string) tenant {
	t.Helper()
	admin := testenv.Bearer(e.AdminToken)
	var u struct{ ID string }
	r := e.Do("POST", "/api/v1/users", admin, map[string]any{"username": name, "password": "pw-" + name + "-secret"})
	wantStatus(t, r, 201)
	r.JSON(t, &u)
	var o struct{ ID string }
	r = e.Do("POST", "/api/v1/organisations", admin, map[string]any{"name": "org-" + name})
	wantStatus(t, r, 201)
	r.JSON(t, &o)
	wantStatus(t, e.Do("POST", "/api/v1/organisations/"+o.ID+"/members", admin, map[string]any{"user_id": u.ID, "role": "owner"}), 201)
	var s struct{ Token string }
	r = e.Do("POST", "/api/v1/sessions", "", map[string]any{"username": name, "password": "pw-" + name + "-secret"})
	wantStatus(t, r, 201)
	r.JSON(t, &s)
	var tok struct{ Token string }
	r = e.Do("POST", "/api/v1/tokens", testenv.Bearer(s.Token), map[string]any{"name": "cli"})
	wantStatus(t, r, 201)
	r.JSON(t, &tok)
	var p project
	r = e.Do("POST", "/api/v1/projects", testenv.Bearer(tok.Token), map[string]any{"organisation_id": o.ID, "name": "proj-" + name})
	wantStatus(t, r, 201)
	r.JSON(t, &p)
	return tenant{user: u.ID, password: "pw-" + name + "-secret", token: tok.Token, org: o.ID, project: p.ID}
}

// engines runs a test body against the embedded SQLite and PostgreSQL.
func engines(t *testing.T, body func(t *testing.T, e *testenv.Env)) {
	t.Run("sqlite", func(t *testing.T) { body(t, testenv.Start(t)) })
	t.Run("postgres", func(t *testing.T) { body(t, testenv.Start(t, testenv.Postgres(t))) })
}

func TestTenantWall(t *testing.T) { engines(t, testTenantWall) }

func testTenantWall(t *testing.T, e *testenv.Env) {
	a, b := newTenant(t, e, "alice"), newTenant(t, e, "bob")
	var ps listOf[project]
	r := e.Do("GET", "/api/v1/projects", testenv.Bearer(a.token), nil)
	wantStatus(t, r, 200)
	r.JSON(t, &ps)
	if len(ps.Items) != 1 || ps.Items[0].ID != a.project {
		t.Fatalf("alice sees %+v, want only her project", ps.Items)
	}
	// Direct gets of another tenant's things are 404, never 403: existence
	// is not disclosed.
	for _, path := range []string{"/api/v1/projects/" + b.project, "/api/v1/organisations/" + b.org,
		"/api/v1/projects/" + b.project + "/members", "/api/v1/organisations/" + b.org + "/members"} {
		wantProblem(t, e.Do("GET", path, testenv.Bearer(a.token), nil), 404, "not_found")
	}
	wantProblem(t, e.Do("PATCH", "/api/v1/projects/"+b.project, testenv.Bearer(a.token), map[string]any{"name": "mine"}), 404, "not_found")
	wantProblem(t, e.Do("POST", "/api/v1/projects", testenv.Bearer(a.token), map[string]any{"organisation_id": b.org, "name": "x"}), 400, "invalid")
	var orgs listOf[struct{ ID string }]
	e.Do("GET", "/api/v1/organisations", testenv.Bearer(a.token), nil).JSON(t, &orgs)
	if len(orgs.Items) != 1 || orgs.Items[0].ID != a.org {
		t.Fatalf("alice sees organisations %+v", orgs.Items)
	}
	// A viewer added to bob's project sees it but cannot change it.
	wantStatus(t, e.Do("POST", "/api/v1/projects/"+b.project+"/members", testenv.Bearer(b.token), map[string]any{"user_id": a.user, "role": "viewer"}), 201)
	wantStatus(t, e.Do("GET", "/api/v1/projects/"+b.project, testenv.Bearer(a.token), nil), 200)
	wantProblem(t, e.Do("PATCH", "/api/v1/projects/"+b.project, testenv.Bearer(a.token), map[string]any{"name": "mine"}), 403, "permission_denied")
	// Non-staff cannot create users or organisations.
	wantProblem(t, e.Do("POST", "/api/v1/organisations", testenv.Bearer(a.token), map[string]any{"name": "evil"}), 403, "permission_denied")
	wantProblem(t, e.Do("POST", "/api/v1/users", testenv.Bearer(a.token), map[string]any{"username": "eve", "password": "12345678"}), 403, "permission_denied")
}

func TestTokens(t *testing.T) { engines(t, testTokens) }

func testTokens(t *testing.T, e *testenv.Env) {
	a, b := newTenant(t, e, "alice"), newTenant(t, e, "bob")
	auth := testenv.Bearer(a.token)

	// A project-bound token sees and touches only its project.
	var bound struct{ ID, Token, ProjectID string }
	r := e.Do("POST", "/api/v1/tokens", auth, map[string]any{"name": "ci", "project_id": a.project})
	wantStatus(t, r, 201)
	r.JSON(t, &bound)
	var other project
	e.Do("POST", "/api/v1/projects", auth, map[string]any{"organisation_id": a.org, "name": "second"}).JSON(t, &other)
	var ps listOf[project]
	e.Do("GET", "/api/v1/projects", testenv.Bearer(bound.Token), nil).JSON(t, &ps)
	if len(ps.Items) != 1 || ps.Items[0].ID != a.project {
		t.Fatalf("bound token sees %+v", ps.Items)
	}
	wantProblem(t, e.Do("GET", "/api/v1/projects/"+other.ID, testenv.Bearer(bound.Token), nil), 404, "not_found")
	wantProblem(t, e.Do("PATCH", "/api/v1/projects/"+other.ID, testenv.Bearer(bound.Token), map[string]any{"name": "x"}), 404, "not_found")
	wantProblem(t, e.Do("POST", "/api/v1/projects", testenv.Bearer(bound.Token), map[string]any{"organisation_id": a.org, "name": "x"}), 403, "permission_denied")
	wantProblem(t, e.Do("POST", "/api/v1/tokens", testenv.Bearer(bound.Token), map[string]any{"project_id": other.ID}), 403, "permission_denied")
	// Binding to another tenant's project is refused.
	wantProblem(t, e.Do("POST", "/api/v1/tokens", auth, map[string]any{"project_id": b.project}), 400, "invalid")

	// The secret is never listed; revoking makes it useless at once.
	r = e.Do("GET", "/api/v1/tokens", auth, nil)
	wantStatus(t, r, 200)
	if strings.Contains(string(r.Body), bound.Token) || strings.Contains(string(r.Body), `"token"`) {
		t.Fatalf("token list shows a secret: %s", r.Body)
	}
	wantStatus(t, e.Do("DELETE", "/api/v1/tokens/"+bound.ID, auth, nil), 204)
	wantProblem(t, e.Do("GET", "/api/v1/projects", testenv.Bearer(bound.Token), nil), 401, "unauthorized")
	// Someone else's token id is not found for bob.
	wantProblem(t, e.Do("DELETE", "/api/v1/tokens/"+bound.ID, testenv.Bearer(b.token), nil), 404, "not_found")

	// Expiry.
	var short struct{ Token string }
	e.Do("POST", "/api/v1/tokens", auth, map[string]any{"ttl_seconds": 1}).JSON(t, &short)
	wantStatus(t, e.Do("GET", "/api/v1/users/me", testenv.Bearer(short.Token), nil), 200)
	time.Sleep(1100 * time.Millisecond)
	wantProblem(t, e.Do("GET", "/api/v1/users/me", testenv.Bearer(short.Token), nil), 401, "unauthorized")
	wantProblem(t, e.Do("POST", "/api/v1/tokens", auth, map[string]any{"expires_at": "2001-01-01T00:00:00Z"}), 400, "invalid")
}

func TestAuthSchemesOnNativeSurface(t *testing.T) {
	e := testenv.Start(t)
	tok := e.AdminToken
	wantStatus(t, e.Do("GET", "/api/v1/users/me", "Bearer "+tok, nil), 200)
	wantStatus(t, e.Do("GET", "/api/v1/users/me", "bearer "+tok, nil), 200)
	// The native API accepts Bearer only: other schemes of other dialects
	// are refused with 401 even with a valid secret.
	for _, auth := range []string{"Token " + tok, "Basic YWRtaW46" + tok, "Bearer " + tok + "x", "Bearer stw_nope", "Bearer a.b.c", "Bearer"} {
		r := e.Do("GET", "/api/v1/users/me", auth, nil)
		wantProblem(t, r, 401, "unauthorized")
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate for %q", auth)
		}
	}
	r := e.DoHeaders("GET", "/api/v1/users/me", http.Header{"X-Api-Key": {tok}}, nil)
	wantProblem(t, r, 401, "unauthorized")
	// Wrong password and unknown user answer the same.
	wrong := e.Do("POST", "/api/v1/sessions", "", map[string]any{"username": "admin", "password": "wrong-password"})
	unknown := e.Do("POST", "/api/v1/sessions", "", map[string]any{"username": "nobody", "password": "wrong-password"})
	pw, pu := wantProblem(t, wrong, 401, "unauthorized"), wantProblem(t, unknown, 401, "unauthorized")
	if pw.Detail != pu.Detail {
		t.Fatalf("wrong password %q and unknown user %q differ", pw.Detail, pu.Detail)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := testenv.Start(t)
	for i := 0; i < 5; i++ {
		wantProblem(t, e.Do("POST", "/api/v1/sessions", "", map[string]any{"username": "admin", "password": "guess"}), 401, "unauthorized")
	}
	wantProblem(t, e.Do("POST", "/api/v1/sessions", "", map[string]any{"username": "admin", "password": "guess"}), 429, "rate_limited")
	// Other users are not locked out by someone guessing at admin.
	wantProblem(t, e.Do("POST", "/api/v1/sessions", "", map[string]any{"username": "someone", "password": "guess"}), 401, "unauthorized")
}

func TestBadInputWritesNothing(t *testing.T) {
	e := testenv.Start(t)
	auth := testenv.Bearer(e.AdminToken)
	var ps listOf[project]
	e.Do("GET", "/api/v1/projects", auth, nil).JSON(t, &ps)
	org := ps.Items[0].OrganisationID
	cases := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"malformed", `{"organisation_id": "` + org + `", "name": `, 400, "invalid", ""},
		{"not json", `name=x`, 400, "invalid", ""},
		{"empty", ``, 400, "invalid", ""},
		{"two values", `{"organisation_id":"` + org + `","name":"a"}{}`, 400, "invalid", ""},
		{"wrong type", map[string]any{"organisation_id": org, "name": 42}, 400, "invalid", "name"},
		{"array", `[]`, 400, "invalid", ""},
		{"unknown field", map[string]any{"organisation_id": org, "name": "ok", "colour": "red"}, 400, "invalid", "colour"},
		{"bad name", map[string]any{"organisation_id": org, "name": "../etc"}, 400, "invalid", "name"},
		{"empty name", map[string]any{"organisation_id": org, "name": ""}, 400, "invalid", "name"},
		{"long name", map[string]any{"organisation_id": org, "name": strings.Repeat("a", 64)}, 400, "invalid", "name"},
		{"no org", map[string]any{"name": "ok"}, 400, "invalid", "organisation_id"},
		{"oversized", map[string]any{"organisation_id": org, "name": "ok", "description": strings.Repeat("x", 2<<20)}, 413, "too_large", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := wantProblem(t, e.Do("POST", "/api/v1/projects", auth, c.body), c.status, c.code)
			if p.Field != c.field {
				t.Errorf("field %q, want %q (%s)", p.Field, c.field, p.Detail)
			}
		})
	}
	var after listOf[project]
	e.Do("GET", "/api/v1/projects", auth, nil).JSON(t, &after)
	if len(after.Items) != len(ps.Items) {
		t.Fatalf("bad requests created projects: %+v", after.Items)
	}
	wantProblem(t, e.Do("GET", "/api/v1/projects?limit=0", auth, nil), 400, "invalid")
	wantProblem(t, e.Do("GET", "/api/v1/projects?cursor=garbage", auth, nil), 400, "invalid")
	wantProblem(t, e.Do("GET", "/api/v1/nothing-here", auth, nil), 404, "not_found")
	// Duplicate names conflict.
	wantStatus(t, e.Do("POST", "/api/v1/projects", auth, map[string]any{"organisation_id": org, "name": "dup"}), 201)
	wantProblem(t, e.Do("POST", "/api/v1/projects", auth, map[string]any{"organisation_id": org, "name": "dup"}), 409, "already_exists")
}

func TestPagination(t *testing.T) { engines(t, testPagination) }

func testPagination(t *testing.T, e *testenv.Env) {
	auth := testenv.Bearer(e.AdminToken)
	var ps listOf[project]
	e.Do("GET", "/api/v1/projects", auth, nil).JSON(t, &ps)
	org := ps.Items[0].OrganisationID
	for i := 0; i < 7; i++ {
		wantStatus(t, e.Do("POST", "/api/v1/projects", auth, map[string]any{"organisation_id": org, "name": "p" + string(rune('a'+i))}), 201)
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		var pg listOf[project]
		path := "/api/v1/projects?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := e.Do("GET", path, auth, nil)
		wantStatus(t, r, 200)
		r.JSON(t, &pg)
		pages++
		for _, p := range pg.Items {
			if seen[p.ID] {
				t.Fatalf("project %s on two pages", p.ID)
			}
			seen[p.ID] = true
		}
		if pg.NextCursor == "" {
			break
		}
		cursor = pg.NextCursor
	}
	if len(seen) != 8 || pages != 3 {
		t.Fatalf("saw %d projects in %d pages, want 8 in 3", len(seen), pages)
	}
}

func TestPasswordChange(t *testing.T) {
	e := testenv.Start(t)
	a := newTenant(t, e, "carol")
	auth := testenv.Bearer(a.token)
	wantProblem(t, e.Do("POST", "/api/v1/users/me/password", auth, map[string]any{"current_password": "nope", "new_password": "long-enough-1"}), 400, "invalid")
	wantStatus(t, e.Do("POST", "/api/v1/users/me/password", auth, map[string]any{"current_password": a.password, "new_password": "long-enough-1"}), 200)
	wantStatus(t, e.Do("POST", "/api/v1/sessions", "", map[string]any{"username": "carol", "password": "long-enough-1"}), 201)
	wantProblem(t, e.Do("POST", "/api/v1/sessions", "", map[string]any{"username": "carol", "password": a.password}), 401, "unauthorized")
}
