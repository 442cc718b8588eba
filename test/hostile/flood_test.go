package hostile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

// node runs the real binary, so that memory is the process's own resident
// set and not the test's. STOWAGE_TEST_BINARY names another build to run
// the same flood against (an older one, to compare).
func node(t *testing.T) *testenv.Node {
	t.Helper()
	bin := os.Getenv("STOWAGE_TEST_BINARY")
	if bin == "" {
		bin = testenv.Build(t)
	}
	dir := t.TempDir()
	return testenv.StartNode(t, bin, filepath.Join(dir, "data"), filepath.Join(dir, "log"))
}

// memory returns a field of /proc/<pid>/status in MiB: VmRSS is the
// resident set now, VmHWM its peak since the process started.
func memory(t *testing.T, n *testenv.Node, field string) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.Cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				t.Fatal(err)
			}
			return kib / 1024
		}
	}
	t.Fatalf("no %s in /proc status", field)
	return 0
}

// loginFaces are one password check on each face that has one, for an
// unknown user (named by i) or, for a password change, with a wrong
// current password.
func loginFaces(api, adminToken string, i int) []*http.Request {
	user := fmt.Sprintf("ghost-%d", i)
	body := func(v any) io.Reader { b, _ := json.Marshal(v); return bytes.NewReader(b) }
	creds := map[string]string{"username": user, "password": "not-the-password"}
	req := func(method, path string, b io.Reader) *http.Request {
		r, _ := http.NewRequest(method, "http://"+api+path, b)
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	basic := req("GET", "/api/2.0/drives/", nil)
	basic.SetBasicAuth(user, "not-the-password")
	change := req("POST", "/api/v1/users/me/password", body(map[string]string{"current_password": "wrong-" + user, "new_password": "long-enough-password"}))
	change.Header.Set("Authorization", "Bearer "+adminToken)
	return []*http.Request{
		req("POST", "/api/v1/sessions", body(creds)),
		req("POST", "/api-auth/password/", body(creds)),
		basic,
		req("POST", "/api/2.0/accounts/action/?do=login", body(creds)),
		req("POST", "/api/user/login", body(creds)),
		change,
	}
}

// inDialect reports whether an error body has the shape of the face that
// path belongs to.
func inDialect(path string, body []byte) bool {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return false
	}
	o, _ := v.(map[string]any)
	switch {
	case strings.HasPrefix(path, "/api/v1/"):
		return o["code"] != nil && o["request_id"] != nil
	case strings.HasPrefix(path, "/api-auth/"):
		return o["detail"] != nil
	case strings.HasPrefix(path, "/api/2.0/"):
		l, _ := v.([]any)
		if len(l) == 0 {
			return false
		}
		first, _ := l[0].(map[string]any)
		return first["error_type"] != nil
	default: // HPC-AI
		return o["message"] != nil
	}
}

// TestLoginFlood sends a few hundred simultaneous password logins for
// users that do not exist, from 24 client addresses, across every face that
// checks a password. Each costs an argon2id derivation of 19 MiB; the
// node must ration them, so its peak memory stays bounded, and whoever it
// turns away is told when to come back.
func TestLoginFlood(t *testing.T) {
	const (
		clients  = 24
		logins   = 240
		boundMiB = 160 // peak growth allowed: one hash per CPU, garbage of the ones before, the requests
	)
	n := node(t)
	before := memory(t, n, "VmRSS")
	var mu sync.Mutex
	statuses := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < logins; i++ {
		c := testenv.ClientFrom(fmt.Sprintf("127.0.0.%d", 1+i%clients))
		faces := loginFaces(n.Addrs.API, n.Token, i)
		r := faces[i%len(faces)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := c.Do(r)
			key := ""
			switch {
			case err != nil:
				key = "error: " + err.Error()
			default:
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				key = fmt.Sprintf("%s %s -> %d", r.Method, r.URL.Path, resp.StatusCode)
				if (resp.StatusCode == 429 || resp.StatusCode == 503) && resp.Header.Get("Retry-After") == "" {
					key += " without Retry-After"
				}
				if !inDialect(r.URL.Path, body) {
					key += " not in the dialect's error shape: " + string(body)
				}
			}
			mu.Lock()
			statuses[key]++
			mu.Unlock()
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)
	peak, after := memory(t, n, "VmHWM"), memory(t, n, "VmRSS")
	fmt.Printf("hostile: login flood of %d unknown users from %d addresses over 6 faces in %v: RSS %.0f MiB before, peak %.0f MiB, %.0f MiB after (bound: peak within %d MiB of before)\n",
		logins, clients, took.Round(time.Millisecond), before, peak, after, boundMiB)
	for k, v := range statuses {
		t.Logf("%4d × %s", v, k)
		ok := strings.HasSuffix(k, "-> 401") || strings.HasSuffix(k, "-> 429") || strings.HasSuffix(k, "-> 503") ||
			strings.HasSuffix(k, "/password -> 400") // a wrong current password
		if !ok {
			t.Errorf("%d × %s", v, k)
		}
	}
	if peak-before > boundMiB {
		t.Errorf("peak RSS %.0f MiB is %.0f MiB over the %.0f MiB before the flood; bound %d MiB", peak, peak-before, before, boundMiB)
	}
	// The node still answers, and quickly, once the flood is over.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+n.Addrs.API+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}
