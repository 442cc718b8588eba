package isolation

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

// TestIsolation runs the matrix on the embedded SQLite and, when
// TEST_PG_DSN names a server (`make test` starts one), on PostgreSQL: the
// tenant filters live in SQL, so each engine proves its own.
func TestIsolation(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { matrix(t, testenv.Start(t, notifyLoopback)) })
	if os.Getenv("TEST_PG_DSN") != "" {
		t.Run("postgres", func(t *testing.T) { matrix(t, testenv.Start(t, testenv.Postgres(t), notifyLoopback)) })
	}
}

// tally counts what the matrix checked.
type tally struct {
	routes, s3Routes   int
	callers, s3Callers int
	requests, controls int
	statuses           map[int]int
}

func matrix(t *testing.T, e *testenv.Env) {
	v, intruders := setUp(t, e)
	shared := catalog(t, e, v, intruders[0])
	before := state(t, e, v)
	n := &tally{statuses: map[int]int{}}
	// The owner reads every victim thing the probes aim at: a target that
	// names nothing real would make every refusal meaningless.
	owner := &intruder{label: "owner", user: v.user, username: v.username, token: v.token, project: v.project,
		secrets: intruders[0].secrets}
	t.Run("api/owner-control", func(t *testing.T) { apiMatrix(t, e, owner, varsFor(e, v, owner, shared), n) })
	for _, in := range intruders {
		vars := varsFor(e, v, in, shared)
		t.Run("api/"+in.label, func(t *testing.T) { apiMatrix(t, e, in, vars, n) })
		t.Run("s3/"+in.label, func(t *testing.T) { s3Matrix(t, e, v, in, n) })
	}
	t.Run("s3/anonymous", func(t *testing.T) { s3Matrix(t, e, v, nil, n) })
	if after := state(t, e, v); after != before {
		t.Errorf("the victim's state changed:\n%s", lineDiff(before, after))
	}
	codes := slices.Sorted(maps.Keys(n.statuses))
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", c, n.statuses[c]))
	}
	fmt.Printf("isolation: %d management routes × %d intruders + %d S3 routes × %d callers = %d route×tenant checks, "+
		"%d requests (statuses %s), %d owner controls\n",
		n.routes/len(intruders), len(intruders), n.s3Routes/(len(intruders)+1), len(intruders)+1,
		n.routes+n.s3Routes, n.requests, strings.Join(parts, " "), n.controls)
}

// apiMatrix walks every management route the server registered.
func apiMatrix(t *testing.T, e *testenv.Env, in *intruder, vars *strings.Replacer, n *tally) {
	table, targets := probeTable(), paramTable()
	control := in.label == "owner"
	for _, pattern := range e.Routes {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			method, path = "", pattern
		}
		if control && method != "GET" {
			continue
		}
		path = strings.TrimSuffix(path, "{$}")
		key := strings.TrimPrefix(method+" "+strings.TrimSuffix(path, "/"), " ")
		ps, ok := table[key]
		if !ok {
			if method != "GET" {
				t.Errorf("%s: no probe; add one to probeTable saying how an intruder would abuse it", pattern)
				continue
			}
			ps = []probe{{}}
		}
		if !control {
			n.routes++
		}
		for _, p := range ps {
			target := p.path
			if target == "" {
				var err error
				if target, err = fill(path, p.params, targets); err != nil {
					t.Errorf("%s: %v", pattern, err)
					continue
				}
			}
			m := method
			if m == "" {
				m = "GET"
			}
			target = vars.Replace(target)
			if p.query != "" {
				target += "?" + vars.Replace(p.query)
			}
			var body any
			if p.body != "" {
				body = vars.Replace(p.body)
			}
			r := e.DoHeaders(m, target, withType(authFor(in, target), p.contentType), body)
			if control {
				if containsAny(strings.SplitN(target, "?", 2)[0], in.secrets) {
					n.controls++
					if r.Status != 200 {
						t.Errorf("the owner's GET %s (route %s) answered %d: the probe aims at nothing real: %.300s", target, pattern, r.Status, r.Body)
					}
				}
				continue
			}
			n.requests++
			n.statuses[r.Status]++
			what := fmt.Sprintf("%s %s %s", m, target, p.body)
			if p.body != "" {
				what = fmt.Sprintf("%s %s %s", m, target, body)
			}
			if msg := judge(r.Status, m, target, p, in); msg != "" {
				t.Errorf("%s (route %s): %s; body %.300s", what, pattern, msg, r.Body)
			}
			leaks(t, what, r, in.secrets)
		}
	}
}

// fill sets each {param} of a pattern's path from the probe or the
// defaults, keyed by the literal segment before it.
func fill(path string, own, defaults map[string]string) (string, error) {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if !strings.HasPrefix(s, "{") {
			continue
		}
		name := strings.Trim(s, "{}")
		if v, ok := own[name]; ok {
			segs[i] = v
			continue
		}
		v, ok := defaults[segs[i-1]+"/"+s]
		if !ok {
			return "", fmt.Errorf("no victim thing for %s/%s; add one to paramTable", segs[i-1], s)
		}
		segs[i] = v
	}
	return strings.Join(segs, "/"), nil
}

// judge returns why a status is wrong for the probe, or "".
func judge(status int, method, target string, p probe, in *intruder) string {
	refused := status == 400 || status == 403 || status == 404 || status == 405
	switch {
	case status >= 500:
		return fmt.Sprintf("server error %d", status)
	case p.login:
		if refused || status == 401 || status == 429 {
			return ""
		}
		return fmt.Sprintf("login as the victim with a wrong password answered %d", status)
	case status == 401:
		return "401: the intruder's own credentials were not accepted, so the wall was not tested"
	case p.own:
		return ""
	case method != "GET" && method != "HEAD":
		if !refused {
			return fmt.Sprintf("a write on the victim's things answered %d", status)
		}
	case containsAny(strings.SplitN(target, "?", 2)[0], in.secrets):
		// Filters naming the victim's things may answer an empty list;
		// paths naming them must not answer.
		if !refused {
			return fmt.Sprintf("a read of the victim's thing answered %d", status)
		}
	case status >= 300 && !refused:
		return fmt.Sprintf("unexpected %d", status)
	}
	return ""
}

func containsAny(s string, needles []string) bool {
	s = strings.ToLower(s)
	for _, n := range needles {
		if strings.Contains(s, strings.ToLower(n)) {
			return true
		}
	}
	return false
}

// leaks fails the test for every secret in the response (headers and
// body) that the request did not itself carry.
func leaks(t *testing.T, request string, r testenv.Response, secrets []string) {
	t.Helper()
	var b strings.Builder
	for k, vs := range r.Header {
		if k == "Date" {
			continue
		}
		b.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	b.Write(r.Body)
	resp, req := strings.ToLower(b.String()), strings.ToLower(request)
	for _, s := range secrets {
		s = strings.ToLower(s)
		if s != "" && !strings.Contains(req, s) && strings.Contains(resp, s) {
			t.Errorf("%s: response carries the victim's %q: %.400s", request, s, r.Body)
		}
	}
}

// authFor presents the intruder's credentials the way each surface
// expects them.
func authFor(in *intruder, path string) http.Header {
	switch {
	case strings.HasPrefix(path, "/api/v1/"):
		return http.Header{"Authorization": {"Bearer " + in.token}}
	case strings.HasPrefix(path, "/api/2.0/"):
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(in.username, in.token)
		return http.Header{"Authorization": {req.Header.Get("Authorization")}}
	case hpcaiPath(path):
		return http.Header{"Cookie": {"AccessToken=" + in.hpcaiCookie}}
	case strings.HasPrefix(path, "/api/"), strings.HasPrefix(path, "/api-auth/"):
		return http.Header{"Authorization": {"Token " + in.token}}
	case strings.HasPrefix(path, "/v1/storage/"), strings.HasPrefix(path, "/storage/"):
		return http.Header{"X-Api-Key": {in.token}}
	case consolePath(path):
		// The console takes a Bearer token as well as its cookie, so
		// the matrices walk it with the same credentials.
		return http.Header{"Authorization": {"Bearer " + in.token}}
	}
	return http.Header{}
}

// consolePath is the web console, and "/" that sends browsers to it.
func consolePath(path string) bool { return path == "/" || strings.HasPrefix(path, "/console/") }

// withType sets the body's media type when it is not JSON.
func withType(h http.Header, contentType string) http.Header {
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return h
}

// shared are catalog entries every tenant may read.
type shared struct {
	offer, plan, wcategory, wtype, wzone, wsettings, hregion string
	libdrive                                                 string
}

func catalog(t *testing.T, e *testenv.Env, v *victim, in *intruder) shared {
	t.Helper()
	var s shared
	s.offer, s.plan = objectStorageOffering(t, e, in.token)
	first := func(method, path, key string) string {
		r := e.DoHeaders(method, path, authFor(in, path), map[string]any{})
		var body any
		_ = json.Unmarshal(r.Body, &body)
		if found := firstValue(body, key); found != "" {
			return found
		}
		t.Fatalf("%s %s: no %q in %d %s", method, path, key, r.Status, r.Body)
		return ""
	}
	s.wcategory = first("GET", "/api/marketplace-categories/", "uuid")
	s.wtype = first("GET", "/api/openstack-volume-types/", "uuid")
	s.wzone = first("GET", "/api/openstack-volume-availability-zones/", "uuid")
	s.wsettings = first("GET", "/api/service-settings/", "uuid")
	s.hregion = first("POST", "/api/region/list", "id")
	s.libdrive = libraryDrive(t, e)
	return s
}

// firstValue finds the first string under key, depth first.
func firstValue(v any, key string) string {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x[key].(string); ok && s != "" {
			return s
		}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if s := firstValue(x[k], key); s != "" {
				return s
			}
		}
	case []any:
		for _, c := range x {
			if s := firstValue(c, key); s != "" {
				return s
			}
		}
	}
	return ""
}

func varsFor(e *testenv.Env, v *victim, in *intruder, s shared) *strings.Replacer {
	m := map[string]string{
		"$PV": v.project, "$ORGV": v.org, "$VUSER": v.user, "$VUSERNAME": v.username, "$PVNAME": v.projectName,
		"$VTOKENID": v.tokenID, "$VINST": v.instance, "$VVOL": v.volume, "$VATT": v.attached,
		"$VSNAP": v.snap, "$VEXPORT": v.export, "$VTAG": v.tag, "$VJOB": v.job, "$VBKT": v.bucket, "$VKEY": v.key,
		"$VACCESS": v.s3.AccessKeyID, "$VORDER": v.order, "$VRES": v.resource, "$VSVC": v.service, "$VUPD": v.uploadDrive, "$VUSAGE": v.usage,
		"$VKMS": v.kmsKey, "$VHOOK": v.hook,
		"$OWNP": in.project, "$OWNINST": in.instance, "$OWNVOL": in.volume, "$SELF": in.user,
		"$OFFER": s.offer, "$PLAN": s.plan, "$WOFFER": strings.ReplaceAll(s.offer, "-", ""), "$WPLAN": strings.ReplaceAll(s.plan, "-", ""),
		"$WCATEGORY": s.wcategory, "$WTYPE": s.wtype, "$WZONE": s.wzone, "$WSETTINGS": s.wsettings, "$HREGION": s.hregion,
		"$LIB": s.libdrive, "$BASE": "http://" + e.Addrs.API, "$R": randomHex(4),
	}
	for _, k := range []string{"$PV", "$ORGV", "$VINST", "$VVOL", "$VSNAP", "$VORDER", "$VRES", "$OWNINST", "$OWNVOL"} {
		m[k+"_H"] = strings.ReplaceAll(m[k], "-", "")
	}
	// Longest names first, so that $VVOL_H is not read as $VVOL + "_H".
	keys := slices.Collect(maps.Keys(m))
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	var pairs []string
	for _, k := range keys {
		pairs = append(pairs, k, m[k])
	}
	return strings.NewReplacer(pairs...)
}

func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			fmt.Fprintf(&out, "- %.600s\n+ %.600s\n", x, y)
		}
	}
	return out.String()
}
