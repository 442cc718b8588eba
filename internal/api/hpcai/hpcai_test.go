package hpcai_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stowage/stowage/internal/testenv"
)

type obj = map[string]any

func post(t *testing.T, e *testenv.Env, path, token string, body any) (int, obj) {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Cookie", "AccessToken="+token)
	}
	r := e.DoHeaders("POST", path, h, body)
	var m obj
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("POST %s: %d %q", path, r.Status, r.Body)
	}
	return r.Status, m
}

func login(t *testing.T, e *testenv.Env, user, pw string) string {
	t.Helper()
	r := e.DoHeaders("POST", "/api/user/login", nil, obj{"username": user, "password": pw})
	var m obj
	r.JSON(t, &m)
	if r.Status != 200 || m["accessExpire"] != float64(86400) {
		t.Fatalf("login: %d %v", r.Status, m)
	}
	if c := r.Header.Get("Set-Cookie"); !strings.HasPrefix(c, "AccessToken="+m["accessToken"].(string)) {
		t.Fatalf("login cookie %q", c)
	}
	return m["accessToken"].(string)
}

func keys(m obj) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestSeedCurlAndVolumeLifecycle(t *testing.T) {
	e := testenv.Start(t)
	pw, _ := os.ReadFile(filepath.Join(e.DataDir, "admin-password"))
	tok := login(t, e, "admin", strings.TrimSpace(string(pw)))
	_, regions := post(t, e, "/api/region/list", tok, obj{})
	region := regions["regionList"].([]any)[0].(obj)["id"].(string)

	// The seed's curl, verbatim but for host, token and region id.
	cmd := exec.Command("curl", "-s", "http://"+e.Addrs.API+"/api/storage/volume/create",
		"-H", "content-type: application/json", "-b", "AccessToken="+tok,
		"--data-raw", `{"name":"example-volume2","sizeGB":200,"region":"`+region+`","volumeType":"filesystem"}`)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	var created obj
	if err := json.Unmarshal(out, &created); err != nil {
		t.Fatalf("curl answer %q", out)
	}
	v := created["volume"].(obj)
	want := []string{"createdAt", "id", "region", "sizeGB", "status", "usageGB", "username", "volumeName", "volumeType"}
	if diff := cmp.Diff(want, keys(v)); diff != "" {
		t.Fatalf("volume keys: %s", diff)
	}
	if v["volumeName"] != "example-volume2" || v["sizeGB"] != float64(200) || v["status"] != "Pending" || v["usageGB"] != float64(0) ||
		v["username"] != "admin" || v["region"] != region || v["volumeType"] != "filesystem" {
		t.Fatalf("volume %v", v)
	}
	status, body := post(t, e, "/api/storage/volume/create", tok, obj{"name": "example-volume2", "sizeGB": 1, "region": region, "volumeType": "filesystem"})
	if status != 409 || body["message"] != "Volume already exists" {
		t.Fatalf("duplicate: %d %v", status, body)
	}
	for _, bad := range []struct {
		body obj
		msg  string
	}{
		{obj{"name": "x", "sizeGB": 0, "region": region, "volumeType": "filesystem"}, "sizeGB must be a positive integer"},
		{obj{"name": "x", "sizeGB": "ten", "region": region, "volumeType": "filesystem"}, "sizeGB must be a positive integer"},
		{obj{"name": "x", "sizeGB": 1, "region": "fce31a0c-0000-0000-0000-41caa1bdd251", "volumeType": "filesystem"}, "region not found"},
		{obj{"name": "x", "sizeGB": 1, "region": region, "volumeType": "tape"}, "invalid volumeType"},
	} {
		if status, body := post(t, e, "/api/storage/volume/create", tok, bad.body); status != 400 || body["message"] != bad.msg {
			t.Errorf("%v: %d %v", bad.body, status, body)
		}
	}

	// A block volume on the fastest type; it becomes Available, grows, and goes.
	_, created = post(t, e, "/api/storage/volume/create", tok, obj{"name": "scratch", "sizeGB": 2, "region": region, "volumeType": "highspeedstorage"})
	id := created["volume"].(obj)["id"].(string)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, d := post(t, e, "/api/storage/volume/detail", tok, obj{"volumeId": id})
		if d["volume"].(obj)["status"] == "Available" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("volume never became Available: %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, body := post(t, e, "/api/storage/volume/resize", tok, obj{"volumeId": id, "sizeGB": 1}); status != 400 || body["message"] != "sizeGB can only be increased" {
		t.Fatalf("shrink: %d %v", status, body)
	}
	if status, body := post(t, e, "/api/storage/volume/resize", tok, obj{"volumeId": id, "sizeGB": 3}); status != 200 || body["volume"].(obj)["sizeGB"] != float64(3) {
		t.Fatalf("grow: %d %v", status, body)
	}
	_, l := post(t, e, "/api/storage/volume/list", tok, obj{"pager": obj{"currentPage": 1, "pageSize": 1}})
	if l["pager"].(obj)["total"] != float64(2) || len(l["volumeList"].([]any)) != 1 || l["volumeList"].([]any)[0].(obj)["volumeName"] != "scratch" {
		t.Fatalf("list newest first: %v", l)
	}
	if status, _ := post(t, e, "/api/storage/volume/list", tok, obj{"pager": obj{"currentPage": 0, "pageSize": 1}}); status != 400 {
		t.Fatalf("page 0: %d", status)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		status, body := post(t, e, "/api/storage/volume/delete", tok, obj{"volumeId": id})
		if status == 200 && len(body) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delete: %d %v", status, body)
		}
	}
}

func TestAuthAndWalls(t *testing.T) {
	e := testenv.Start(t)
	pw, _ := os.ReadFile(filepath.Join(e.DataDir, "admin-password"))
	tok := login(t, e, "admin", strings.TrimSpace(string(pw)))
	_, regions := post(t, e, "/api/region/list", tok, obj{})
	region := regions["regionList"].([]any)[0].(obj)["id"].(string)
	_, created := post(t, e, "/api/storage/volume/create", tok, obj{"name": "mine", "sizeGB": 1, "region": region, "volumeType": "filesystem"})
	id := created["volume"].(obj)["id"].(string)

	// Tokens signed with the node's own key: the expired one is refused,
	// the same one still valid is not (so the refusal is the expiry).
	key, err := os.ReadFile(filepath.Join(e.DataDir, "session.key"))
	if err != nil {
		t.Fatal(err)
	}
	var issued obj
	if err := json.Unmarshal(mustB64(t, strings.Split(tok, ".")[1]), &issued); err != nil {
		t.Fatal(err)
	}
	sign := func(exp time.Time) string {
		c := obj{}
		for k, v := range issued {
			c[k] = v
		}
		c["iat"], c["exp"] = exp.Add(-24*time.Hour).Unix(), exp.Unix()
		claims, _ := json.Marshal(c)
		msg := strings.Split(tok, ".")[0] + "." + base64.RawURLEncoding.EncodeToString(claims)
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(msg))
		return msg + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	// The claims the seed's token carries, which clients that decode it
	// look for.
	if issued["iss"] != "hpcaitech.com" || !slices.Contains(issued["aud"].([]any), any("platform.colossalai.com")) ||
		!slices.Equal(issued["group"].([]any), []any{"admin"}) || issued["sub"] == "" || issued["exp"].(float64)-issued["iat"].(float64) != 86400 {
		t.Errorf("session claims %v", issued)
	}
	expired := sign(time.Now().Add(-time.Hour))
	if status, body := post(t, e, "/api/storage/volume/list", sign(time.Now().Add(time.Hour)), obj{}); status != 200 {
		t.Fatalf("control token: %d %v", status, body)
	}

	for name, token := range map[string]string{"none": "", "forged": tok[:len(tok)-3] + "abc", "garbage": "x.y.z", "expired": expired} {
		if status, body := post(t, e, "/api/storage/volume/list", token, obj{}); status != 401 || body["message"] != "Unauthorized" {
			t.Errorf("%s token: %d %v", name, status, body)
		}
	}
	r := e.DoHeaders("POST", "/api/storage/volume/list", http.Header{"Authorization": {"Bearer " + tok}}, obj{})
	if r.Status != 200 {
		t.Fatalf("Bearer: %d %s", r.Status, r.Body)
	}
	if status, body := post(t, e, "/api/user/login", "", obj{"username": "admin", "password": "nope"}); status != 401 || body["message"] != "Invalid username or password" {
		t.Fatalf("bad login: %d %v", status, body)
	}

	// Another user (their own organisation and project) sees nothing of admin's.
	admin := testenv.Bearer(e.AdminToken)
	var u, org obj
	e.Do("POST", "/api/v1/users", admin, obj{"username": "zoe", "password": "zoe-password"}).JSON(t, &u)
	e.Do("POST", "/api/v1/organisations", admin, obj{"name": "zoes"}).JSON(t, &org)
	e.Do("POST", "/api/v1/organisations/"+org["id"].(string)+"/members", admin, obj{"user_id": u["id"], "role": "owner"})
	e.Do("POST", "/api/v1/projects", admin, obj{"organisation_id": org["id"], "name": "zp"})
	zoe := login(t, e, "zoe", "zoe-password")
	for _, path := range []string{"/api/storage/volume/detail", "/api/storage/volume/delete", "/api/storage/volume/resize"} {
		if status, body := post(t, e, path, zoe, obj{"volumeId": id, "sizeGB": 5}); status != 404 || body["message"] != "Volume not found" {
			t.Errorf("%s on another user's volume: %d %v", path, status, body)
		}
	}
	if _, l := post(t, e, "/api/storage/volume/list", zoe, obj{}); l["pager"].(obj)["total"] != float64(0) {
		t.Errorf("zoe lists %v", l)
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestErrorsInHPCAIShape: every path under the dialect's prefixes answers
// in HPC-AI's {"message"} body, never another face's, including 404 and
// 405 (which names the one method the dialect uses).
func TestErrorsInHPCAIShape(t *testing.T) {
	e := testenv.Start(t)
	h := http.Header{"Authorization": {"Bearer " + e.AdminToken}}
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/storage/volume/list", 405},
		{"DELETE", "/api/storage/volume/delete", 405},
		{"GET", "/api/user/login", 405},
		{"PUT", "/api/region/list", 405},
		{"POST", "/api/storage/volume/explode", 404},
		{"POST", "/api/storage/bucket/list", 404},
		{"GET", "/api/instance/list", 404},
	} {
		r := e.DoHeaders(c.method, c.path, h, nil)
		var m map[string]any
		if err := json.Unmarshal(r.Body, &m); err != nil || r.Status != c.status || len(m) != 1 || m["message"] == "" {
			t.Errorf("%s %s: %d %s, want %d with a message", c.method, c.path, r.Status, r.Body, c.status)
		}
		if c.status == 405 && r.Header.Get("Allow") != "POST" {
			t.Errorf("%s %s: Allow %q", c.method, c.path, r.Header.Get("Allow"))
		}
	}
}
