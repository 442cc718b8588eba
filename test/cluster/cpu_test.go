//go:build ceph

package cluster

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the kernel's USER_HZ, the unit of /proc/PID/stat times.
const clockTick = 10 * time.Millisecond

// cpuTime is the user plus system CPU a process has used.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields after it do not.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * clockTick
}

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
			s[name][p] = cpuTime(p)
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
