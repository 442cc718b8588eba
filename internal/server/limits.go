package server

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
)

// hashMemory is the memory the node lets password hashing hold at once:
// a sixteenth of the machine's memory (or of GOMEMLIMIT, when that is
// lower), so that a flood of logins cannot take the node's memory, while
// a real burst of logins still finds several slots.
func hashMemory() int64 {
	mem := int64(1 << 30) // when /proc/meminfo says nothing: assume a small machine
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var kib int64
			if n, _ := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kib); n == 1 {
				mem = kib << 10
				break
			}
		}
		f.Close()
	}
	if limit := debug.SetMemoryLimit(-1); limit < mem {
		mem = limit
	}
	return mem / 16
}
