package server_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/server"
	"github.com/stowage/stowage/internal/testenv"
)

func TestFirstStartThenReuse(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	e := testenv.StartConfig(t, cfg)

	for _, name := range []string{"admin-token", "admin-password", "session.key", "master.key"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	var addrs server.Addresses
	b, err := os.ReadFile(filepath.Join(dir, "addresses.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &addrs); err != nil {
		t.Fatal(err)
	}
	if addrs.API != e.Addrs.API || strings.HasSuffix(addrs.API, ":0") {
		t.Fatalf("addresses.json says %q, server bound %q", addrs.API, e.Addrs.API)
	}
	if r := e.Do("GET", "/api/v1/users/me", testenv.Bearer(e.AdminToken), nil); r.Status != 200 {
		t.Fatalf("admin token refused: %d %s", r.Status, r.Body)
	}
	pw, _ := os.ReadFile(filepath.Join(dir, "admin-password"))
	login := e.Do("POST", "/api/v1/sessions", "", map[string]string{"username": "admin", "password": strings.TrimSpace(string(pw))})
	if login.Status != 201 {
		t.Fatalf("admin password refused: %d %s", login.Status, login.Body)
	}
	e.Stop()

	// A second start on the same dir keeps the same credentials and tenant.
	e2 := testenv.StartConfig(t, cfg)
	if e2.AdminToken != e.AdminToken {
		t.Fatal("second start replaced the admin token")
	}
	pw2, _ := os.ReadFile(filepath.Join(dir, "admin-password"))
	if string(pw2) != string(pw) {
		t.Fatal("second start replaced the admin password")
	}
	r := e2.Do("GET", "/api/v1/projects", testenv.Bearer(e2.AdminToken), nil)
	var l struct{ Items []struct{ Name string } }
	r.JSON(t, &l)
	if r.Status != 200 || len(l.Items) != 1 || l.Items[0].Name != "default" {
		t.Fatalf("after restart: %d %s", r.Status, r.Body)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	e := testenv.Start(t)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		if r := e.Do("GET", path, "", nil); r.Status != want {
			t.Errorf("%s: %d", path, r.Status)
		}
	}
	e.Do("GET", "/api/v1/projects", testenv.Bearer(e.AdminToken), nil)
	r := e.Do("GET", "/metrics", "", nil)
	for _, want := range []string{
		`stowage_http_requests_total{method="GET",route="GET /api/v1/projects",status="200"} 1`,
		`stowage_http_request_duration_seconds_bucket{method="GET",route="GET /api/v1/projects"`,
		`stowage_jobs{state="queued"} 0`,
	} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if r.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on /metrics")
	}
	// A data dir that no longer takes writes makes the node unready.
	if err := os.Chmod(e.DataDir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(e.DataDir, 0o700)
	if os.Getuid() == 0 {
		// root ignores permissions; take the dir away instead.
		moved := e.DataDir + ".moved"
		if err := os.Rename(e.DataDir, moved); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(moved, e.DataDir)
	}
	if r := e.Do("GET", "/readyz", "", nil); r.Status != 503 {
		t.Errorf("/readyz with an unusable data dir: %d", r.Status)
	}
}

// TestBinaryServeAndSIGTERM runs the real binary: it must come up on :0
// ports, answer, finish an in-flight request during shutdown and exit 0.
func TestBinaryServeAndSIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "stowage")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/stowage")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--nbd-listen", "127.0.0.1:0", "--s3-listen", "127.0.0.1:0", "--nfs-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "STOWAGE_DATA_DIR="+dir, "STOWAGE_LISTEN=127.0.0.1:1") // the flag wins over env
	logFile, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stderr = logFile
	logs := func() string { b, _ := os.ReadFile(logFile.Name()); return string(b) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var addrs server.Addresses
	for deadline := time.Now().Add(30 * time.Second); ; {
		if b, err := os.ReadFile(filepath.Join(dir, "addresses.json")); err == nil && json.Unmarshal(b, &addrs) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not write addresses.json; log:\n%s", logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tok, _ := os.ReadFile(filepath.Join(dir, "admin-token"))
	if strings.Contains(logs(), strings.TrimSpace(string(tok))) {
		t.Fatal("the admin token was logged")
	}
	// Start a request whose body is still coming and SIGTERM: the request
	// must still complete. Expect: 100-continue makes the client send the
	// body only once the handler reads it, so when the first write to the
	// pipe returns, the request is in the handler.
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	pr, pw := io.Pipe()
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	go func() {
		req, _ := http.NewRequest("POST", "http://"+addrs.API+"/api/v1/sessions", pr)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Expect", "100-continue")
		resp, err := client.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	_, _ = pw.Write([]byte(`{"username":"admin",`))
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Shutdown has begun once the listener refuses new connections.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addrs.API, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the API still accepts connections after SIGTERM; log:\n%s", logs())
		}
	}
	_, _ = pw.Write([]byte(`"password":"wrong"}`))
	pw.Close()
	res := <-done
	if res.err != nil || res.status != 401 {
		t.Fatalf("in-flight request during shutdown: %+v", res)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; log:\n%s", err, logs())
	}
}
