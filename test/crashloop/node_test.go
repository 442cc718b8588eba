package crashloop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// addresses is <data-dir>/addresses.json.
type addresses struct {
	API, S3, NBD string
}

// node is one run of the real binary on the shared data dir.
type node struct {
	t     *testing.T
	cmd   *exec.Cmd
	addrs addresses
	token string
	http  *http.Client
}

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "stowage")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/stowage")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// start runs the binary on dir, with free ports, and waits for it to
// write addresses.json; the log goes to logPath, appended across runs.
func start(t *testing.T, bin, dir, logPath string) *node {
	t.Helper()
	os.Remove(filepath.Join(dir, "addresses.json"))
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--s3-listen", "127.0.0.1:0", "--nbd-listen", "127.0.0.1:0",
		"--nfs-listen", "127.0.0.1:0", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "STOWAGE_DATA_DIR="+dir)
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	fmt.Fprintf(log, "--- start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, cmd: cmd, http: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(func() { n.kill() })
	for deadline := time.Now().Add(60 * time.Second); ; {
		if b, err := os.ReadFile(filepath.Join(dir, "addresses.json")); err == nil && json.Unmarshal(b, &n.addrs) == nil {
			break
		}
		if cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("the server did not start; see %s", logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	n.token = strings.TrimSpace(string(tok))
	return n
}

// kill ends the process with SIGKILL; it is idempotent.
func (n *node) kill() {
	if n.cmd.ProcessState == nil {
		n.cmd.Process.Signal(syscall.SIGKILL)
		n.cmd.Wait()
	}
}

// stop asks for a graceful shutdown and expects exit status 0.
func (n *node) stop() {
	n.t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		n.t.Fatal(err)
	}
	if err := n.cmd.Wait(); err != nil {
		n.t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// call sends a native API request as the admin; out, when not nil,
// receives the decoded body.
func (n *node) call(method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+n.addrs.API+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+n.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

// must is call for the harness's own steps, which may not fail.
func (n *node) must(method, path string, body, out any) {
	n.t.Helper()
	if _, err := n.call(method, path, body, out); err != nil {
		n.t.Fatal(err)
	}
}

type item struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	State      string `json:"state"`
	Kind       string `json:"kind"`
	ResourceID string `json:"resource_id"`
}

// list reads every page of a native list.
func (n *node) list(path string) []item {
	n.t.Helper()
	var out []item
	cursor := ""
	for {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		var l struct {
			Items []item `json:"items"`
			Next  string `json:"next_cursor"`
		}
		n.must("GET", path+sep+"limit=1000&cursor="+cursor, nil, &l)
		out = append(out, l.Items...)
		if l.Next == "" {
			return out
		}
		cursor = l.Next
	}
}
