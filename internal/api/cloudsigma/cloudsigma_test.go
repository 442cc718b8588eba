package cloudsigma_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

type obj = map[string]any

// seed holds the request and response examples of the CloudSigma drives
// documentation (CloudSigma API 2.0, drives), keyed by what they
// show. The nvme create body gained the "]" the document lacks, and the
// drive with a hundred job refs keeps three: only shapes are compared.
func seed(t *testing.T) obj {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "seed.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m obj
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

// admin authenticates as the bootstrap admin with the token as password.
func admin(e *testenv.Env) string { return basic("admin", e.AdminToken) }

// call sends a request and decodes the JSON body (nil for an empty one).
func call(t *testing.T, e *testenv.Env, method, path, auth string, body any) (int, any) {
	t.Helper()
	r := e.Do(method, "/api/2.0/"+path, auth, body)
	if len(r.Body) == 0 {
		return r.Status, nil
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: %d with Content-Type %q: %s", method, path, r.Status, ct, r.Body)
	}
	var v any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("%s %s: %d %q is not JSON", method, path, r.Status, r.Body)
	}
	return r.Status, v
}

func mustStatus(t *testing.T, got int, body any, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("status %d, want %d: %v", got, want, body)
	}
}

// wantErr checks Tastypie's error array: one element of the given type
// and point ("" for null).
func wantErr(t *testing.T, status int, body any, wantStatus int, typ, point string) {
	t.Helper()
	list, ok := body.([]any)
	if status != wantStatus || !ok || len(list) == 0 {
		t.Fatalf("got %d %v, want %d with an error array", status, body, wantStatus)
	}
	e := list[0].(obj)
	var p any
	if point != "" {
		p = point
	}
	if e["error_type"] != typ || e["error_point"] != p || e["error_message"] == "" {
		t.Fatalf("error %v, want type %s point %q", e, typ, point)
	}
	if _, has := e["error_point"]; !has {
		t.Fatalf("error %v has no error_point key", e)
	}
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "list"
	case obj:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// sameShape checks that got has every key of want with a value of the same
// JSON type, recursively; list elements are compared with want's first.
// A null in want is a value the example had not yet, so anything goes.
func sameShape(t *testing.T, where string, want, got any) {
	t.Helper()
	if want == nil {
		return
	}
	if kind(want) != kind(got) {
		t.Errorf("%s: %s in the seed, %s here (%v)", where, kind(want), kind(got), got)
		return
	}
	switch w := want.(type) {
	case obj:
		g := got.(obj)
		if strings.HasSuffix(where, ".meta") {
			return // user data: any keys
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				t.Errorf("%s: key %q missing", where, k)
				continue
			}
			sameShape(t, where+"."+k, wv, gv)
		}
	case []any:
		g := got.([]any)
		if len(w) > 0 {
			for i, gv := range g {
				sameShape(t, fmt.Sprintf("%s[%d]", where, i), w[0], gv)
			}
		}
	}
}

func keys(m obj) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func objects(t *testing.T, body any) []obj {
	t.Helper()
	m, ok := body.(obj)
	if !ok {
		t.Fatalf("not an object: %v", body)
	}
	list, ok := m["objects"].([]any)
	if !ok {
		t.Fatalf("no objects list: %v", body)
	}
	out := make([]obj, len(list))
	for i, x := range list {
		out[i] = x.(obj)
	}
	return out
}

// waitStatus polls a drive until it has status want.
func waitStatus(t *testing.T, e *testenv.Env, auth, id, want string) obj {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, body := call(t, e, "GET", "drives/"+id+"/", auth, nil)
		if st == 200 && body.(obj)["status"] == want {
			return body.(obj)
		}
		if time.Now().After(deadline) {
			t.Fatalf("drive %s: %d %v, want status %s", id, st, body, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitGone(t *testing.T, e *testenv.Env, auth, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, body := call(t, e, "GET", "drives/"+id+"/", auth, nil)
		if st == 404 {
			wantErr(t, st, body, 404, "notexist", "")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("drive %s still there: %d %v", id, st, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
