package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/server"
)

// Build compiles the stowage binary as it ships (CGO_ENABLED=0) into a
// temporary directory and returns its path, for suites that need a real
// process to kill or to measure.
func Build(t testing.TB) string {
	t.Helper()
	return build(t, "CGO_ENABLED=0")
}

// BuildCeph compiles the binary `make build-ceph` makes (cgo, librbd).
func BuildCeph(t testing.TB) string {
	t.Helper()
	return build(t, "CGO_ENABLED=1", "-tags", "ceph pacific")
}

func build(t testing.TB, cgo string, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "stowage")
	cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, flags...), "github.com/stowage/stowage/cmd/stowage")...)
	cmd.Env = append(os.Environ(), cgo)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// Node is one run of the binary built by Build.
type Node struct {
	T     testing.TB
	Cmd   *exec.Cmd
	Addrs server.Addresses
	Token string // the admin's API token
	http  *http.Client
}

// StartNode runs `bin serve` on dir with free ports and waits for it to
// write addresses.json, as a script would; its output is appended to
// logPath. The test's end kills it if nothing else did. args are more
// flags for serve.
func StartNode(t testing.TB, bin, dir, logPath string, args ...string) *Node {
	t.Helper()
	os.Remove(filepath.Join(dir, "addresses.json"))
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--s3-listen", "127.0.0.1:0", "--nbd-listen", "127.0.0.1:0",
		"--nfs-listen", "127.0.0.1:0", "--log-level", "warn"}, args...)...)
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
	n := &Node{T: t, Cmd: cmd, http: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(n.Kill)
	for deadline := time.Now().Add(60 * time.Second); ; {
		if b, err := os.ReadFile(filepath.Join(dir, "addresses.json")); err == nil && json.Unmarshal(b, &n.Addrs) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not start; see %s", logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A node joining an existing PostgreSQL database writes no admin
	// token; the caller supplies the first node's.
	tok, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	switch {
	case err == nil:
		n.Token = strings.TrimSpace(string(tok))
	case !errors.Is(err, fs.ErrNotExist) || !slices.Contains(args, "--database"):
		t.Fatal(err)
	}
	return n
}

// Kill ends the process with SIGKILL; it is idempotent.
func (n *Node) Kill() {
	if n.Cmd.ProcessState == nil {
		n.Cmd.Process.Signal(syscall.SIGKILL)
		n.Cmd.Wait()
	}
}

// Stop asks for a graceful shutdown and fails the test unless the process
// exits 0.
func (n *Node) Stop() {
	n.T.Helper()
	if err := n.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		n.T.Fatal(err)
	}
	if err := n.Cmd.Wait(); err != nil {
		n.T.Fatalf("exit after SIGTERM: %v", err)
	}
}

// Call sends a native API request as the admin; out, when not nil,
// receives the decoded body of a success. A status of 300 or more is an
// error that quotes the body.
func (n *Node) Call(method, path string, body, out any) (int, error) {
	return CallAPI(n.http, n.Addrs.API, n.Token, method, path, body, out)
}

// CallAPI sends a native API request to the API listener at addr with a
// bearer token, as Node.Call does (for tests that talk to several nodes
// or a proxy in front of them).
func CallAPI(hc *http.Client, addr, token, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	return resp.StatusCode, nil
}

// Must is Call for a suite's own steps, which may not fail.
func (n *Node) Must(method, path string, body, out any) {
	n.T.Helper()
	if _, err := n.Call(method, path, body, out); err != nil {
		n.T.Fatal(err)
	}
}

// CheckPool opens the block pool a stopped node left in dataDir, fails the
// test unless its fsck is clean, and checks that it holds exactly want
// volumes and snapshots (what the records name).
func CheckPool(t testing.TB, dataDir string, want int) {
	t.Helper()
	ctx := context.Background()
	pool, err := blockstore.Open(ctx, filepath.Join(dataDir, "blocks"), blockstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rep, err := pool.Fsck(ctx)
	if err != nil || !rep.Clean() {
		t.Fatalf("fsck: %v %+v", err, rep)
	}
	ids, err := pool.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != want {
		t.Errorf("the pool holds %d volumes and snapshots, the records name %d", len(ids), want)
	}
}

// List reads every page of a native list as the admin.
func List[T any](n *Node, path string) []T {
	n.T.Helper()
	var out []T
	cursor := ""
	for {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		var l struct {
			Items []T    `json:"items"`
			Next  string `json:"next_cursor"`
		}
		n.Must("GET", path+sep+"limit=1000&cursor="+cursor, nil, &l)
		out = append(out, l.Items...)
		if l.Next == "" {
			return out
		}
		cursor = l.Next
	}
}
