// Package procstat reads what Linux reports about another process, for
// benchmarks and suites that weigh a server's CPU time beside its rate
// (on a loaded machine the CPU per unit of work is the steadier figure).
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
