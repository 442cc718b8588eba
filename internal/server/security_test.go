package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

// send posts body as JSON with optional headers through c and returns the
// response with its body read.
func send(t *testing.T, c *http.Client, method, url string, h http.Header, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// newUser creates a user as the admin, with a project of their own in
// which they are a member, and returns their password and the project id.
func newUser(t *testing.T, e *testenv.Env, name string) (password, project string) {
	t.Helper()
	pw := "pw-" + name + "-secret"
	admin := testenv.Bearer(e.AdminToken)
	var u, prj struct{ ID string }
	r := e.Do("POST", "/api/v1/users", admin, obj{"username": name, "email": name + "@example.com", "password": pw})
	if r.Status != 201 {
		t.Fatalf("create user %s: %d %s", name, r.Status, r.Body)
	}
	r.JSON(t, &u)
	var orgs struct{ Items []struct{ ID string } }
	e.Do("GET", "/api/v1/organisations", admin, nil).JSON(t, &orgs)
	e.Do("POST", "/api/v1/projects", admin, obj{"organisation_id": orgs.Items[0].ID, "name": name + "-project"}).JSON(t, &prj)
	if r := e.Do("POST", "/api/v1/projects/"+prj.ID+"/members", admin, obj{"user_id": u.ID, "role": "member"}); r.Status != 201 {
		t.Fatalf("membership: %d %s", r.Status, r.Body)
	}
	return pw, prj.ID
}

// session logs in on the native API and returns the session token.
func session(t *testing.T, e *testenv.Env, name, pw string) string {
	t.Helper()
	var s struct{ Token string }
	r := e.Do("POST", "/api/v1/sessions", "", obj{"username": name, "password": pw})
	if r.Status != 201 {
		t.Fatalf("log in as %s: %d %s", name, r.Status, r.Body)
	}
	r.JSON(t, &s)
	return s.Token
}

// TestLoginLimitIsAtomic sends 64 simultaneous wrong passwords for one user,
// half naming them by username and half by email, from 8 client addresses
// and (on PostgreSQL) to two nodes: exactly the user's limit of them may be
// checked, and after that even the right password waits out the window.
func TestLoginLimitIsAtomic(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			var nodes []*testenv.Env
			if engine == "sqlite" {
				nodes = append(nodes, testenv.Start(t))
			} else {
				// A second node on the same database, sharing the master
				// key as every node of a cluster must.
				a := testenv.Start(t, testenv.Postgres(t))
				nodes = append(nodes, a, testenv.Join(t, a))
			}
			e := nodes[0]
			pw, _ := newUser(t, e, "carol")
			var mu sync.Mutex
			got := map[int]int{}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := 0; i < 64; i++ {
				login := "carol"
				if i%2 == 1 {
					login = "CAROL@example.com"
				}
				c := testenv.ClientFrom(fmt.Sprintf("127.0.0.%d", 10+i%8))
				url := nodes[i%len(nodes)].URL("/api/v1/sessions")
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					resp, _ := send(t, c, "POST", url, nil, obj{"username": login, "password": "wrong-password"})
					mu.Lock()
					got[resp.StatusCode]++
					mu.Unlock()
				}()
			}
			close(start)
			wg.Wait()
			if got[401] != 5 || got[429] != 59 {
				t.Fatalf("64 simultaneous wrong passwords answered %v; want exactly 5 checked (401) and 59 refused (429)", got)
			}
			for _, n := range nodes {
				resp, body := send(t, http.DefaultClient, "POST", n.URL("/api/v1/sessions"), nil, obj{"username": "carol", "password": pw})
				if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
					t.Fatalf("the right password inside the window: %d %s (Retry-After %q), want 429 with Retry-After",
						resp.StatusCode, body, resp.Header.Get("Retry-After"))
				}
			}
		})
	}
}

// TestLoginLimitPerAddress: one client address trying many logins (a
// password spray) is stopped, while other addresses are not.
func TestLoginLimitPerAddress(t *testing.T) {
	e := testenv.Start(t)
	sprayer := testenv.ClientFrom("127.0.0.20")
	codes := map[int]int{}
	for i := 0; i < 40; i++ {
		resp, _ := send(t, sprayer, "POST", e.URL("/api/v1/sessions"), nil, obj{"username": fmt.Sprintf("user-%d", i), "password": "Summer2026!"})
		codes[resp.StatusCode]++
	}
	if codes[401] != 30 || codes[429] != 10 {
		t.Fatalf("40 logins for 40 users from one address answered %v; want 30 checked (401) and 10 refused (429)", codes)
	}
	resp, body := send(t, testenv.ClientFrom("127.0.0.21"), "POST", e.URL("/api/v1/sessions"), nil, obj{"username": "user-1", "password": "Summer2026!"})
	if resp.StatusCode != 401 {
		t.Fatalf("another address: %d %s, want 401", resp.StatusCode, body)
	}
}

// TestMetricsIgnoreClientMethods: methods a client invents, on the API and
// the S3 listener, must not become metric series.
func TestMetricsIgnoreClientMethods(t *testing.T) {
	e := testenv.Start(t)
	series := func() (int, string) {
		resp, body := send(t, http.DefaultClient, "GET", e.URL("/metrics"), nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("/metrics: %d", resp.StatusCode)
		}
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if !strings.HasPrefix(sc.Text(), "#") {
				n++
			}
		}
		return n, string(body)
	}
	for _, base := range []string{"http://" + e.Addrs.API + "/api/v1/volumes", "http://" + e.Addrs.API + "/no/such/path", "http://" + e.Addrs.S3 + "/bucket/key"} {
		send(t, http.DefaultClient, "M-warmup", base, nil, nil)
	}
	series() // so that /metrics's own series exist before counting
	before, _ := series()
	for i := 0; i < 300; i++ {
		for _, base := range []string{"http://" + e.Addrs.API + "/api/v1/volumes", "http://" + e.Addrs.API + "/no/such/path", "http://" + e.Addrs.S3 + "/bucket/key"} {
			send(t, http.DefaultClient, fmt.Sprintf("M%d", i), base, nil, nil)
		}
	}
	after, text := series()
	if strings.Contains(text, `method="M`) || after > before+10 {
		t.Fatalf("900 requests with invented methods grew /metrics from %d to %d series (method label M…: %v)",
			before, after, strings.Contains(text, `method="M`))
	}
	if !strings.Contains(text, `method="other"`) {
		t.Errorf("invented methods are not counted as method=\"other\"")
	}
	t.Logf("/metrics: %d series before, %d after 900 requests with invented methods", before, after)
}

// TestPasswordChangeEndsSessions: a session from before a password change
// stops working, and the caller is told.
func TestPasswordChangeEndsSessions(t *testing.T) {
	e := testenv.Start(t)
	pw, _ := newUser(t, e, "dave")
	old := session(t, e, "dave", pw)
	mine := session(t, e, "dave", pw)
	r := e.Do("POST", "/api/v1/users/me/password", testenv.Bearer(mine), obj{"current_password": pw, "new_password": "a-new-password-1"})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"sessions_ended":true`) {
		t.Fatalf("change password: %d %s", r.Status, r.Body)
	}
	for name, s := range map[string]string{"an older session": old, "the caller's session": mine} {
		if r := e.Do("GET", "/api/v1/users/me", testenv.Bearer(s), nil); r.Status != 401 {
			t.Errorf("%s after the password change: %d %s", name, r.Status, r.Body)
		}
	}
	if r := e.Do("GET", "/api/v1/users/me", testenv.Bearer(session(t, e, "dave", "a-new-password-1")), nil); r.Status != 200 {
		t.Fatalf("a new session: %d %s", r.Status, r.Body)
	}
}

// TestPasswordChangeIsGuarded: a project-bound token cannot change the
// password, and wrong current passwords are limited as logins are.
func TestPasswordChangeIsGuarded(t *testing.T) {
	e := testenv.Start(t)
	pw, prj := newUser(t, e, "erin")
	s := session(t, e, "erin", pw)
	var tok struct{ Token string }
	e.Do("POST", "/api/v1/tokens", testenv.Bearer(s), obj{"project_id": prj}).JSON(t, &tok)
	if r := e.Do("POST", "/api/v1/users/me/password", testenv.Bearer(tok.Token), obj{"current_password": pw, "new_password": "stolen-password-1"}); r.Status != 403 {
		t.Fatalf("password change with a project-bound token: %d %s, want 403", r.Status, r.Body)
	}
	for i := 0; i < 5; i++ {
		if r := e.Do("POST", "/api/v1/users/me/password", testenv.Bearer(s), obj{"current_password": fmt.Sprintf("guess-%d", i), "new_password": "whatever-password"}); r.Status != 400 {
			t.Fatalf("wrong current password %d: %d %s, want 400", i, r.Status, r.Body)
		}
	}
	r := e.Do("POST", "/api/v1/users/me/password", testenv.Bearer(s), obj{"current_password": pw, "new_password": "whatever-password"})
	if r.Status != 429 {
		t.Fatalf("sixth guess at the current password: %d %s, want 429", r.Status, r.Body)
	}
}

// TestTokenCannotOutliveItsMaker: a token made by a short-lived token
// expires with it, and revoking the maker revokes what it made.
func TestTokenCannotOutliveItsMaker(t *testing.T) {
	e := testenv.Start(t)
	var parent, child, grandchild struct {
		ID, Token string
		ExpiresAt *string `json:"expires_at"`
	}
	exp := time.Now().Add(30 * time.Second).UTC().Truncate(time.Second)
	e.Do("POST", "/api/v1/tokens", testenv.Bearer(e.AdminToken), obj{"name": "short", "expires_at": exp.Format(time.RFC3339)}).JSON(t, &parent)
	e.Do("POST", "/api/v1/tokens", testenv.Bearer(parent.Token), obj{"name": "forever"}).JSON(t, &child)
	if child.ExpiresAt == nil {
		t.Fatalf("a token made by a token expiring at %s never expires", exp)
	}
	if got, err := time.Parse(time.RFC3339, *child.ExpiresAt); err != nil || got.After(exp) {
		t.Fatalf("a token made by a token expiring at %s expires at %s", exp, *child.ExpiresAt)
	}
	e.Do("POST", "/api/v1/tokens", testenv.Bearer(child.Token), obj{"name": "grandchild"}).JSON(t, &grandchild)
	if r := e.Do("DELETE", "/api/v1/tokens/"+parent.ID, testenv.Bearer(e.AdminToken), nil); r.Status != 204 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	for name, tok := range map[string]string{"child": child.Token, "grandchild": grandchild.Token} {
		if r := e.Do("GET", "/api/v1/users/me", testenv.Bearer(tok), nil); r.Status != 401 {
			t.Errorf("the %s of a revoked token: %d", name, r.Status)
		}
	}
	if r := e.Do("GET", "/api/v1/users/me", testenv.Bearer(e.AdminToken), nil); r.Status != 200 {
		t.Errorf("the maker's own maker: %d", r.Status)
	}
}

// TestSessionCookies: a CloudSigma session cookie works only on CloudSigma,
// ends at logout (a copy of it too), and is SameSite=Strict; so is HPC-AI's.
func TestSessionCookies(t *testing.T) {
	e := testenv.Start(t)
	pw, _ := newUser(t, e, "frank")
	r := e.Do("POST", "/api/2.0/accounts/action/?do=login", "", obj{"username": "frank", "password": pw})
	if r.Status != 200 {
		t.Fatalf("CloudSigma login: %d %s", r.Status, r.Body)
	}
	cookies := (&http.Response{Header: r.Header}).Cookies()
	jar := ""
	var sid, csrf string
	for _, c := range cookies {
		if c.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie %s is not SameSite=Strict: %v", c.Name, r.Header["Set-Cookie"])
		}
		jar += c.Name + "=" + c.Value + "; "
		switch c.Name {
		case "sessionid":
			sid = c.Value
		case "csrftoken":
			csrf = c.Value
		}
	}
	if r := e.DoHeaders("GET", "/api/2.0/drives/", http.Header{"Cookie": {jar}}, nil); r.Status != 200 {
		t.Fatalf("GET with the session: %d %s", r.Status, r.Body)
	}
	if r := e.Do("GET", "/api/v1/users/me", testenv.Bearer(sid), nil); r.Status != 401 {
		t.Fatalf("the CloudSigma session cookie as a native Bearer token: %d %s", r.Status, r.Body)
	}
	if r := e.DoHeaders("POST", "/api/2.0/accounts/action/?do=logout", http.Header{"Cookie": {jar}, "X-Csrftoken": {csrf}}, obj{}); r.Status != 200 {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	if r := e.DoHeaders("GET", "/api/2.0/drives/", http.Header{"Cookie": {jar}}, nil); r.Status != 401 {
		t.Fatalf("a copy of the cookie after logout: %d %s", r.Status, r.Body)
	}

	r = e.Do("POST", "/api/user/login", "", obj{"username": "frank", "password": pw})
	if r.Status != 200 {
		t.Fatalf("HPC-AI login: %d %s", r.Status, r.Body)
	}
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.SameSite != http.SameSiteStrictMode {
			t.Errorf("HPC-AI cookie %s is not SameSite=Strict: %v", c.Name, r.Header["Set-Cookie"])
		}
		if r := e.Do("GET", "/api/v1/users/me", testenv.Bearer(c.Value), nil); r.Status != 401 {
			t.Errorf("the HPC-AI cookie as a native Bearer token: %d %s", r.Status, r.Body)
		}
	}
}

// TestCookieWritesMustBeSameSite: a write authenticated by the HPC-AI
// cookie alone is refused unless it is JSON from the same origin, which is
// what a cross-site form or fetch cannot be.
func TestCookieWritesMustBeSameSite(t *testing.T) {
	e := testenv.Start(t)
	pw, _ := newUser(t, e, "grace")
	r := e.Do("POST", "/api/user/login", "", obj{"username": "grace", "password": pw})
	if r.Status != 200 {
		t.Fatalf("HPC-AI login: %d %s", r.Status, r.Body)
	}
	var cookie string
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		cookie = c.Name + "=" + c.Value
	}
	var regions struct {
		RegionList []struct{ ID string } `json:"regionList"`
	}
	e.DoHeaders("POST", "/api/region/list", http.Header{"Cookie": {cookie}}, obj{}).JSON(t, &regions)
	create := `{"name":"csrf","region":"` + regions.RegionList[0].ID + `","sizeGB":1,"volumeType":"highspeedstorage"}`
	forged := map[string]http.Header{
		"text/plain from another site":   {"Content-Type": {"text/plain"}, "Origin": {"https://evil.example"}},
		"text/plain with no origin":      {"Content-Type": {"text/plain"}},
		"form-encoded":                   {"Content-Type": {"application/x-www-form-urlencoded"}},
		"JSON from another origin":       {"Content-Type": {"application/json"}, "Origin": {"https://evil.example"}},
		"JSON from another site (Fetch)": {"Content-Type": {"application/json"}, "Sec-Fetch-Site": {"cross-site"}},
	}
	for name, h := range forged {
		h.Set("Cookie", cookie)
		req, _ := http.NewRequest("POST", e.URL("/api/storage/volume/create"), strings.NewReader(create))
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(body), `"message"`) {
			t.Errorf("%s: %d %s, want 403 in HPC-AI's shape", name, resp.StatusCode, body)
		}
	}
	lr := e.DoHeaders("POST", "/api/storage/volume/list", http.Header{"Cookie": {cookie}}, obj{})
	if lr.Status != 200 || strings.Contains(string(lr.Body), `"csrf"`) {
		t.Fatalf("a refused cross-site write created a volume: %s", lr.Body)
	}
	same := e.DoHeaders("POST", "/api/storage/volume/create", http.Header{"Cookie": {cookie}, "Origin": {"http://" + e.Addrs.API}, "Sec-Fetch-Site": {"same-origin"}}, json.RawMessage(create))
	if same.Status >= 300 {
		t.Fatalf("a same-origin JSON write: %d %s", same.Status, same.Body)
	}
}

// TestDataDirTightened: a data dir that exists world-readable, with its
// database and keys in it, is made private at start.
func TestDataDirTightened(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Listen, cfg.S3Listen, cfg.NBDListen, cfg.NFSListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	e := testenv.StartConfig(t, cfg)
	e.Stop()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		mode := os.FileMode(0o644)
		if en.IsDir() {
			mode = 0o755
		}
		if err := os.Chmod(filepath.Join(dir, en.Name()), mode); err != nil {
			t.Fatal(err)
		}
	}
	testenv.StartConfig(t, cfg)
	check := func(path string, want os.FileMode) {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), want)
		}
	}
	check(dir, 0o700)
	entries, _ = os.ReadDir(dir)
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
		if en.IsDir() {
			check(filepath.Join(dir, en.Name()), 0o700)
		} else {
			check(filepath.Join(dir, en.Name()), 0o600)
		}
	}
	for _, must := range []string{"stowage.db", "stowage.db-wal", "stowage.db-shm"} {
		if _, err := os.Stat(filepath.Join(dir, must)); err != nil {
			t.Errorf("%s: %v (files seen: %v)", must, err, names)
		}
	}
}
