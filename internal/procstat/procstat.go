// Package procstat reads what Linux reports about another process, for
// benchmarks and suites that weigh a server's CPU time beside its rate
// (on a loaded machine the CPU per unit of work is the steadier figure)
// and tell reads served from disk from those served from the page cache.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPU is the user plus system CPU time process pid has used, or 0 when
// pid is not positive or cannot be read. /proc/PID/stat counts it in
// clock ticks of 1/100 s (USER_HZ) on every architecture Go runs on.
func CPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command, in parentheses, may hold spaces; the fields after it
	// do not: state is the first, utime the 12th and stime the 13th.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// DiskRead is how many bytes process pid has caused to be read from
// storage (read_bytes in /proc/PID/io: page cache hits do not count), or
// 0 when pid is not positive or cannot be read, as /proc/PID/io of
// another user's process cannot without privilege.
func DiskRead(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "read_bytes:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
