package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/server"
)

// node is one run of the real binary on a data dir.
type node struct {
	t     *testing.T
	cmd   *exec.Cmd
	addrs server.Addresses
	token string
}

func startNode(t *testing.T, bin, dir string) *node {
	t.Helper()
	os.Remove(filepath.Join(dir, "addresses.json"))
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--nbd-listen", "127.0.0.1:0", "--s3-listen", "127.0.0.1:0", "--nfs-listen", "127.0.0.1:0", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "STOWAGE_DATA_DIR="+dir)
	log, err := os.OpenFile(filepath.Join(t.TempDir(), "log"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	n := &node{t: t, cmd: cmd}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if b, err := os.ReadFile(filepath.Join(dir, "addresses.json")); err == nil && json.Unmarshal(b, &n.addrs) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not write addresses.json")
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

func (n *node) do(method, path string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+n.addrs.API+path, rd)
	req.Header.Set("Authorization", "Bearer "+n.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type item struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Type   string `json:"type"`
}

func (n *node) list(path string) []item {
	n.t.Helper()
	var out []item
	cursor := ""
	for {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		status, b := n.do("GET", path+sep+"limit=1000&cursor="+cursor, nil)
		if status != 200 {
			n.t.Fatalf("GET %s: %d %s", path, status, b)
		}
		var l struct {
			Items []item `json:"items"`
			Next  string `json:"next_cursor"`
		}
		if err := json.Unmarshal(b, &l); err != nil {
			n.t.Fatal(err)
		}
		out = append(out, l.Items...)
		if l.Next == "" {
			return out
		}
		cursor = l.Next
	}
}

// TestCrashWhileJobsRun kills the server with SIGKILL while volume jobs are
// queued and running, restarts it on the same data dir, and checks that
// every volume and snapshot reaches a stable status, the pool holds exactly
// the data the records name, and fsck finds nothing wrong.
func TestCrashWhileJobsRun(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "stowage")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/stowage")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	n := startNode(t, bin, dir)
	_, b := n.do("GET", "/api/v1/projects", nil)
	var ps struct{ Items []item }
	json.Unmarshal(b, &ps)
	prj := ps.Items[0].ID

	const mib = 1 << 20
	var base []string
	for i := range 8 {
		status, b := n.do("POST", "/api/v1/volumes", map[string]any{"project_id": prj, "name": fmt.Sprint("base-", i), "size": 16 * mib})
		if status != 202 {
			t.Fatalf("create: %d %s", status, b)
		}
		var a struct{ Volume item }
		json.Unmarshal(b, &a)
		base = append(base, a.Volume.ID)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		ready := 0
		for _, v := range n.list("/api/v1/volumes") {
			if v.Status == "available" {
				ready++
			}
		}
		if ready == len(base) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("base volumes did not become available")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A burst of every kind of job, then SIGKILL in the middle of it.
	var wg sync.WaitGroup
	accepted := make(chan int, 100)
	for i, id := range base {
		reqs := []struct {
			method, path string
			body         any
		}{
			{"POST", "/api/v1/volumes", map[string]any{"project_id": prj, "size": 32 * mib}},
			{"POST", "/api/v1/volumes/" + id + "/snapshots", map[string]any{}},
			{"POST", "/api/v1/volumes/" + id + "/clone", map[string]any{}},
			{"POST", "/api/v1/volumes/" + id + "/extend", map[string]any{"size": 48 * mib}},
		}
		if i%3 == 0 {
			reqs = append(reqs, struct {
				method, path string
				body         any
			}{"DELETE", "/api/v1/volumes/" + id, nil})
		}
		for _, r := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if status, _ := n.do(r.method, r.path, r.body); status == 202 {
					accepted <- 1
				}
			}()
		}
	}
	// Kill as soon as the first intents are recorded, so that jobs are
	// queued and some are mid-step.
	for range 6 {
		<-accepted
	}
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n.cmd.Wait()
	wg.Wait()
	close(accepted)
	t.Logf("%d requests accepted before the kill", 6+len(accepted))

	// Jobs that were running hold a lease until it lapses (30 s), then the
	// new node re-queues and re-runs them; their steps must converge.
	n = startNode(t, bin, dir)
	pending := map[string]int{}
	for _, st := range []string{"queued", "running"} {
		for _, j := range n.list("/api/v1/jobs?state=" + st) {
			pending[j.Status+st]++
		}
	}
	t.Logf("jobs left unfinished by the kill: %v", pending)
	stable := map[string]bool{"available": true, "in_use": true}
	var vols, snaps []item
	for deadline := time.Now().Add(90 * time.Second); ; {
		vols, snaps = n.list("/api/v1/volumes"), n.list("/api/v1/snapshots")
		busy := 0
		for _, v := range vols {
			if !stable[v.Status] {
				busy++
			}
		}
		for _, s := range snaps {
			if s.Status != "available" {
				busy++
			}
		}
		if busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			_, jobs := n.do("GET", "/api/v1/jobs?state=failed", nil)
			t.Fatalf("not stable after restart: volumes %+v snapshots %+v; failed jobs %s", vols, snaps, jobs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("after restart: %d volumes, %d snapshots, all stable", len(vols), len(snaps))
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}

	ctx := context.Background()
	pool, err := blockstore.Open(ctx, filepath.Join(dir, "blocks"), blockstore.Options{})
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
	if len(ids) != len(vols)+len(snaps) {
		t.Fatalf("pool holds %d volumes and snapshots, the records name %d + %d", len(ids), len(vols), len(snaps))
	}
}
