package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

type item struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Type   string `json:"type"`
}

func list(n *testenv.Node, path string) []item { return testenv.List[item](n, path) }

// TestCrashWhileJobsRun kills the server with SIGKILL while volume jobs are
// queued and running, restarts it on the same data dir, and checks that
// every volume and snapshot reaches a stable status, the pool holds exactly
// the data the records name, and fsck finds nothing wrong.
func TestCrashWhileJobsRun(t *testing.T) {
	testCrashWhileJobsRun(t, testenv.Build(t), nil, func(t *testing.T, n *testenv.Node, dir string, vols, snaps []item) {
		n.Stop()
		testenv.CheckPool(t, dir, len(vols)+len(snaps))
	})
}

// testCrashWhileJobsRun is the body for both backends: bin serves with
// args; check looks at the pool once every job has converged.
func testCrashWhileJobsRun(t *testing.T, bin string, args []string, check func(t *testing.T, n *testenv.Node, dir string, vols, snaps []item)) {
	dir, logPath := t.TempDir(), filepath.Join(t.TempDir(), "log")
	n := testenv.StartNode(t, bin, dir, logPath, args...)
	var ps struct{ Items []item }
	n.Must("GET", "/api/v1/projects", nil, &ps)
	prj := ps.Items[0].ID

	const mib = 1 << 20
	var base []string
	for i := range 8 {
		var a struct{ Volume item }
		n.Must("POST", "/api/v1/volumes", map[string]any{"project_id": prj, "name": fmt.Sprint("base-", i), "size": 16 * mib}, &a)
		base = append(base, a.Volume.ID)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		ready := 0
		for _, v := range list(n, "/api/v1/volumes") {
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
				if status, _ := n.Call(r.method, r.path, r.body, nil); status == 202 {
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
	n.Kill()
	wg.Wait()
	close(accepted)
	t.Logf("%d requests accepted before the kill", 6+len(accepted))

	// Jobs that were running hold a lease until it lapses (30 s), then the
	// new node re-queues and re-runs them; their steps must converge.
	n = testenv.StartNode(t, bin, dir, logPath, args...)
	pending := map[string]int{}
	for _, st := range []string{"queued", "running"} {
		for _, j := range list(n, "/api/v1/jobs?state="+st) {
			pending[j.Status+st]++
		}
	}
	t.Logf("jobs left unfinished by the kill: %v", pending)
	stable := map[string]bool{"available": true, "in_use": true}
	var vols, snaps []item
	for deadline := time.Now().Add(90 * time.Second); ; {
		vols, snaps = list(n, "/api/v1/volumes"), list(n, "/api/v1/snapshots")
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
			// The node's warnings and errors say why a job gave up.
			b, _ := os.ReadFile(logPath)
			for l := range strings.Lines(string(b)) {
				if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
					t.Log(strings.TrimSpace(l))
				}
			}
			t.Fatalf("not stable after restart: volumes %+v snapshots %+v; failed jobs %+v", vols, snaps, list(n, "/api/v1/jobs?state=failed"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("after restart: %d volumes, %d snapshots, all stable", len(vols), len(snaps))
	check(t, n, dir, vols, snaps)
}
