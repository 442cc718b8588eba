package cloudsigma_test

import (
	"net/http"
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

// TestSessionLogin follows pycloudsigma's login_method=session: log in,
// then send the cookies, and X-CSRFToken on writes.
func TestSessionLogin(t *testing.T) {
	e := testenv.Start(t)
	newTenant(t, e, "carol")

	st, body := call(t, e, "POST", "accounts/action/?do=login", "", obj{"username": "carol", "password": "wrong"})
	wantErr(t, st, body, 401, "permission", "")
	st, body = call(t, e, "POST", "accounts/action/?do=login", "", obj{"username": "carol"})
	wantErr(t, st, body, 400, "validation", "password")

	r := e.Do("POST", "/api/2.0/accounts/action/?do=login", "", obj{"username": "carol@example.com", "password": "pw-carol-secret"})
	if r.Status != 200 {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	cookies := map[string]*http.Cookie{}
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		cookies[c.Name] = c
	}
	sid, csrf := cookies["sessionid"], cookies["csrftoken"]
	if sid == nil || csrf == nil || !sid.HttpOnly || sid.MaxAge != 1209600 || csrf.MaxAge != 31449600 || sid.Path != "/" {
		t.Fatalf("cookies %v", r.Header["Set-Cookie"])
	}
	jar := "sessionid=" + sid.Value + "; csrftoken=" + csrf.Value
	get := e.DoHeaders("GET", "/api/2.0/drives/", http.Header{"Cookie": {jar}}, nil)
	if get.Status != 200 {
		t.Fatalf("GET with the session: %d %s", get.Status, get.Body)
	}
	drive := obj{"name": "s", "media": "disk", "size": 1 << 30}
	w := e.DoHeaders("POST", "/api/2.0/drives/", http.Header{"Cookie": {jar}}, drive)
	if w.Status != 403 {
		t.Fatalf("write without X-CSRFToken: %d %s", w.Status, w.Body)
	}
	w = e.DoHeaders("POST", "/api/2.0/drives/", http.Header{"Cookie": {jar}, "X-Csrftoken": {"forged"}}, drive)
	if w.Status != 403 {
		t.Fatalf("write with a forged X-CSRFToken: %d %s", w.Status, w.Body)
	}
	w = e.DoHeaders("POST", "/api/2.0/drives/", http.Header{"Cookie": {jar}, "X-Csrftoken": {csrf.Value}, "Referer": {e.URL("/api/2.0/")}}, drive)
	if w.Status != 201 {
		t.Fatalf("write with X-CSRFToken: %d %s", w.Status, w.Body)
	}

	r = e.DoHeaders("POST", "/api/2.0/accounts/action/?do=logout", http.Header{"Cookie": {jar}, "X-Csrftoken": {csrf.Value}}, obj{})
	if r.Status != 200 || len((&http.Response{Header: r.Header}).Cookies()) != 2 {
		t.Fatalf("logout: %d %v", r.Status, r.Header["Set-Cookie"])
	}
	if st, body := call(t, e, "GET", "drives/", "", nil); st != 401 {
		t.Fatalf("without cookies: %d %v", st, body)
	}
}
