//go:build ceph

package cluster

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/procstat"
)

// cpuGroups names the processes whose CPU a benchmark accounts for: the
// client (this test), the nodes, HAProxy, the Ceph daemons of the test
// cluster and the PostgreSQL backends serving the test's database.
func (c *cluster) cpuGroups(cephConf string) map[string][]int {
	g := map[string][]int{"client": {os.Getpid()}}
	for _, nd := range c.nodes {
		if nd.alive {
			g["nodes"] = append(g["nodes"], nd.proc.Cmd.Process.Pid)
		}
	}
	if c.haCmd != nil {
		g["haproxy"] = append(g["haproxy"], c.haCmd.Process.Pid)
	}
	pids, _ := filepath.Glob(filepath.Join(filepath.Dir(cephConf), "run", "*.pid"))
	for _, p := range pids {
		if b, err := os.ReadFile(p); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				g["ceph"] = append(g["ceph"], pid)
			}
		}
	}
	rows, err := c.db.Query("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	if err == nil {
		defer rows.Close()
		for rows.Next() {
			var pid int
			if rows.Scan(&pid) == nil {
				g["postgres"] = append(g["postgres"], pid)
			}
		}
	}
	return g
}

// cpuSample is each group's CPU per process at one moment.
type cpuSample map[string]map[int]time.Duration

func (c *cluster) sampleCPU(cephConf string) cpuSample {
	s := cpuSample{}
	for name, pids := range c.cpuGroups(cephConf) {
		s[name] = map[int]time.Duration{}
		for _, p := range pids {
			s[name][p] = procstat.CPU(p)
		}
	}
	return s
}

// since is each group's CPU used between before and s; a process that
// appeared in between counts from zero.
func (s cpuSample) since(before cpuSample) map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pids := range s {
		for p, t := range pids {
			out[name] += t - before[name][p]
		}
	}
	return out
}
