//go:build ceph

package cluster

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

// lockBound is how long after a SIGKILL another node may take to write to
// an image whose RBD exclusive lock the dead node held: the down threshold
// (6 s) as a live node times it from when it saw the last beat change,
// up to two heartbeats for it to see that and to look again, and slack
// for a loaded machine — well under the ~30 s Ceph's watch timeout would
// take without fencing.
const lockBound = 20 * time.Second

// attachedExport creates a volume of size, attaches it through the node
// at c.haAPI and returns its export name.
func (c *cluster) attachedExport(fx fixture, name string, size int) string {
	c.t.Helper()
	var v accepted
	c.must(c.haAPI, "POST", "/api/v1/volumes", map[string]any{"project_id": fx.project, "name": name, "size": size}, &v)
	if err := c.waitStatus("/api/v1/volumes/"+v.Volume.ID, "available"); err != nil {
		c.t.Fatal(err)
	}
	var inst struct{ ID string }
	c.must(c.haAPI, "POST", "/api/v1/instances", map[string]any{"project_id": fx.project, "name": name + "-vm"}, &inst)
	var att accepted
	c.must(c.haAPI, "POST", "/api/v1/volumes/"+v.Volume.ID+"/attach", map[string]any{"instance_id": inst.ID}, &att)
	if err := c.waitStatus("/api/v1/volumes/"+v.Volume.ID, "in_use"); err != nil {
		c.t.Fatal(err)
	}
	u, err := url.Parse(att.Attachment.ConnectionInfo.URI)
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// holdLock writes to export through nd's NBD listener with qemu-io and
// keeps the connection (so nd's librbd handle and the image's exclusive
// lock) open until the test ends.
func (c *cluster) holdLock(nd *node, export string) {
	c.t.Helper()
	// stdbuf: qemu-io's stdout is a pipe, and "wrote" must arrive before
	// it exits.
	cmd := exec.Command("stdbuf", "-oL", "qemu-io", "-f", "raw", "-c", "write -P 0xaa 0 1M", "-c", "flush", "-c", "sleep 600000",
		"nbd://"+nd.nbd+"/"+export)
	out, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	wrote := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "wrote") {
				wrote <- true
				break
			}
		}
		close(wrote)
	}()
	select {
	case ok := <-wrote:
		if !ok {
			c.t.Fatal("qemu-io ended before its write was acknowledged")
		}
	case <-time.After(30 * time.Second):
		c.t.Fatal("qemu-io's first write was not acknowledged in 30 s")
	}
}

// writeVia writes to export through nd's NBD listener with qemu-io (write
// and FLUSH) and returns how long it took.
func writeVia(t *testing.T, nd *node, export string, pattern byte) time.Duration {
	t.Helper()
	start := time.Now()
	out, err := exec.Command("qemu-io", "-f", "raw", "-c", fmt.Sprintf("write -P 0x%02x 0 1M", pattern), "-c", "flush",
		"nbd://"+nd.nbd+"/"+export).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "wrote") {
		t.Fatalf("qemu-io write through %s: %v\n%s", nd.name, err, out)
	}
	return time.Since(start)
}

// TestFencedNodeLosesItsLocks: a node killed with SIGKILL while an NBD
// client writes to an RBD image (so it holds the image's exclusive lock)
// is fenced — its Ceph client blocklisted — once its heartbeat stops, so
// the client's next write through another node lands within lockBound
// instead of after Ceph's ~30 s watch timeout; and when the killed node
// restarts under its name it fences its previous run itself, at once.
func TestFencedNodeLosesItsLocks(t *testing.T) {
	c := newCluster(t, 2)
	c.start(0)
	c.start(1)
	// No HAProxy here: n2 answers the API, and it survives.
	c.haAPI = c.nodes[1].api
	fx := c.fixture()

	export := c.attachedExport(fx, "fence-a", 8*mib)
	c.holdLock(c.nodes[0], export)
	c.kill(0)
	killedAt := time.Now()
	took := writeVia(t, c.nodes[1], export, 0xbb)
	sinceKill := time.Since(killedAt)
	t.Logf("fence: n1 killed holding the exclusive lock; n2's NBD write+flush acknowledged %s after the kill (the write itself took %s; bound %s, watch timeout ~30 s)",
		sinceKill.Round(time.Millisecond), took.Round(time.Millisecond), lockBound)
	if sinceKill > lockBound {
		t.Errorf("the write through n2 was acknowledged %s after n1's kill, bound %s: the dead node kept the lock", sinceKill.Round(time.Millisecond), lockBound)
	}
	var fenced int64
	if err := c.db.QueryRow("SELECT fenced_at FROM nodes WHERE name = 'n1'").Scan(&fenced); err != nil || fenced == 0 {
		t.Errorf("n1's row is not marked fenced (fenced_at %d, %v)", fenced, err)
	}

	// A node restarted at once under its own name: its previous run's
	// heartbeat is still fresh, so nobody else fenced it; the new run must.
	c.start(0)
	export = c.attachedExport(fx, "fence-b", 8*mib)
	c.holdLock(c.nodes[0], export)
	c.kill(0)
	killedAt = time.Now()
	c.start(0)
	took = writeVia(t, c.nodes[0], export, 0xcc)
	sinceKill = time.Since(killedAt)
	t.Logf("fence: n1 killed holding the exclusive lock and restarted at once; its NBD write+flush acknowledged %s after the kill (the write itself took %s)",
		sinceKill.Round(time.Millisecond), took.Round(time.Millisecond))
	if sinceKill > lockBound {
		t.Errorf("the write through the restarted n1 was acknowledged %s after the kill, bound %s", sinceKill.Round(time.Millisecond), lockBound)
	}
}

// TestStalledNodeExits: a node that stalls (SIGSTOP) past the down
// threshold is fenced by another; when it resumes it must not serve on
// with a blocklisted client but exit non-zero, saying why, so that its
// supervisor restarts it with a fresh one.
func TestStalledNodeExits(t *testing.T) {
	c := newCluster(t, 2)
	c.start(0)
	c.start(1)
	stalled := c.nodes[1]
	if err := stalled.proc.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(lockBound); ; time.Sleep(100 * time.Millisecond) {
		var fenced int64
		if err := c.db.QueryRow("SELECT fenced_at FROM nodes WHERE name = $1", stalled.name).Scan(&fenced); err == nil && fenced != 0 {
			break
		}
		if time.Now().After(deadline) {
			stalled.proc.Cmd.Process.Signal(syscall.SIGCONT)
			t.Fatalf("the stalled node was not fenced %s after it stopped", lockBound)
		}
	}
	resumed := time.Now()
	if err := stalled.proc.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- stalled.proc.Cmd.Wait() }()
	select {
	case err := <-exited:
		stalled.alive = false
		if err == nil {
			t.Fatal("the fenced node exited 0; its supervisor must see a failure")
		}
		t.Logf("fence: the stalled node exited %s after it resumed: %v", time.Since(resumed).Round(time.Millisecond), err)
	case <-time.After(30 * time.Second):
		t.Fatal("the fenced node still runs 30 s after it resumed")
	}
	log, err := os.ReadFile(stalled.log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "fenced") {
		t.Errorf("the fenced node's log does not say it was fenced:\n%s", tail(log, 2000))
	}
}

// TestFencedNodeLosesItsCephFSCaps: a node killed with SIGKILL after it
// made a filesystem volume and wrote to it over NFS holds MDS capabilities
// on the volumes' directory and in the volume; fencing blocklists its
// CephFS mounts with its RBD client, so the MDS drops their sessions and
// another node makes a filesystem volume within settleBound of the kill
// instead of stalling until the MDS session timeout (~60 s).
func TestFencedNodeLosesItsCephFSCaps(t *testing.T) {
	c := newCluster(t, 2)
	c.start(0)
	// n1 alone runs the first volume's jobs, so its mounts take the caps.
	c.haAPI = c.nodes[0].api
	fx := c.fixture()
	_, u, err := c.attachedVolume(fx, map[string]any{"name": "cfs-a", "size": 8 * mib, "type": "filesystem"}, "cfs-a-vm")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, randBytes(70_000), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := nfsCopy(src, testenv.LibnfsURL(t, u.String(), "/f.bin")); err != nil {
		t.Fatalf("nfs-cp through n1: %v: %s", err, out)
	}
	c.start(1)
	c.haAPI = c.nodes[1].api
	c.kill(0)
	killedAt := time.Now()
	var v accepted
	c.must(c.haAPI, "POST", "/api/v1/volumes", map[string]any{"project_id": fx.project, "name": "cfs-b", "size": 8 * mib, "type": "filesystem"}, &v)
	if err := c.waitStatus("/api/v1/volumes/"+v.Volume.ID, "available"); err != nil {
		t.Fatal(err)
	}
	sinceKill := time.Since(killedAt)
	t.Logf("fence: n1 killed holding CephFS caps; n2's filesystem volume was available %s after the kill (bound %s)",
		sinceKill.Round(time.Millisecond), settleBound)
	if sinceKill > settleBound {
		t.Errorf("n2's filesystem volume was made %s after n1's kill, bound %s: the dead node's CephFS sessions kept their caps",
			sinceKill.Round(time.Millisecond), settleBound)
	}
}
