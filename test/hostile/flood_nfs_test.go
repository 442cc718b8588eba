package hostile

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

const (
	// floodConns is the NFS flood: modest enough for a two-core box,
	// three times the listener's default connection limit.
	floodConns = 3000
	// floodAddrs is how many loopback addresses the flood comes from,
	// so that it is many clients and not one (Linux routes 127.0.0.0/8
	// to lo).
	floodAddrs = 100
	// floodGrowth bounds the node's peak RSS growth under the flood. One
	// mark declaring 1 MiB per connection cost 1 MiB each before records
	// were read as they arrive (2000 connections: 26 MB to 2.1 GB).
	floodGrowth = 128 << 20
	// healthzLimit is how fast /healthz must answer during the flood.
	healthzLimit = 100 * time.Millisecond
	// nodeHeaderTimeout is the node's default header timeout, within
	// which it must close every connection of the flood.
	nodeHeaderTimeout = 10 * time.Second
)

// procStatus reads a field of /proc/PID/status in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestNFSConnectionFlood throws thousands of connections at a real
// node's NFS listener from many addresses: a third send only a record
// mark declaring 1 MiB, a third a mark declaring 2 GiB, a third nothing.
// The node's peak RSS must grow by less than floodGrowth, /healthz must
// answer within healthzLimit meanwhile, and the node must close every
// connection within its header timeout.
func TestNFSConnectionFlood(t *testing.T) {
	bin := testenv.Build(t)
	dir := t.TempDir()
	node := testenv.StartNode(t, bin, dir, filepath.Join(t.TempDir(), "node.log"))
	pid := node.Cmd.Process.Pid
	health := &http.Client{Timeout: 10 * time.Second}
	probe := func() time.Duration {
		t0 := time.Now()
		resp, err := health.Get("http://" + node.Addrs.API + "/healthz")
		if err != nil {
			t.Fatalf("/healthz: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz: %s", resp.Status)
		}
		return time.Since(t0)
	}
	probe()
	before := procStatus(t, pid, "VmRSS")

	start := time.Now()
	conns := make([]net.Conn, 0, floodConns)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	marks := [][]byte{{0x00, 0x10, 0x00, 0x00}, {0xff, 0xff, 0xff, 0xff}, nil}
	for i := range floodConns {
		from := &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i%floodAddrs))}
		d := net.Dialer{LocalAddr: from, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", node.Addrs.NFS)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if m := marks[i%len(marks)]; m != nil {
			c.Write(m) // a refused connection may be closed already
		}
	}
	var took []time.Duration
	for range 10 {
		took = append(took, probe())
	}
	slices.Sort(took)

	// Every connection ends by the header timeout: refused at accept,
	// closed for a record too large, or closed for its silence.
	deadline := start.Add(nodeHeaderTimeout + slack)
	for i, c := range conns {
		c.SetReadDeadline(deadline)
		if _, err := io.Copy(io.Discard, c); err != nil && os.IsTimeout(err) {
			t.Fatalf("connection %d still open %v after the flood began", i, time.Since(start).Round(time.Millisecond))
		}
	}
	closed := time.Since(start)
	peak := procStatus(t, pid, "VmHWM")
	after := procStatus(t, pid, "VmRSS")
	growth := peak - before
	fmt.Printf("hostile: NFS flood of %d connections from %d addresses (1 MiB and 2 GiB record marks, silence): "+
		"node RSS %d MiB before, peak %d MiB (+%d MiB, bound %d MiB), %d MiB after; /healthz median %v, max %v (limit %v); all closed after %v\n",
		floodConns, floodAddrs, before>>20, peak>>20, growth>>20, floodGrowth>>20, after>>20,
		took[len(took)/2].Round(time.Microsecond), took[len(took)-1].Round(time.Microsecond), healthzLimit, closed.Round(time.Millisecond))
	if growth > floodGrowth {
		t.Errorf("peak RSS grew by %d MiB under the flood, bound %d MiB", growth>>20, floodGrowth>>20)
	}
	// The median: one probe may meet a collector pause on a shared box.
	if m := took[len(took)/2]; m > healthzLimit {
		t.Errorf("/healthz took %v (median of %d) during the flood, limit %v", m, len(took), healthzLimit)
	}
}
