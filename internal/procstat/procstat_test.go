package procstat

import (
	"os"
	"testing"
	"time"
)

// This process's CPU time grows while it spins, and a missing process
// reads as zero.
func TestCPU(t *testing.T) {
	before := CPU(os.Getpid())
	for deadline := time.Now().Add(10 * time.Second); CPU(os.Getpid()) <= before; {
		if time.Now().After(deadline) {
			t.Fatalf("CPU time stayed at %v while spinning", before)
		}
		for i := 0; i < 1e6; i++ {
			_ = i * i
		}
	}
	if got := CPU(0); got != 0 {
		t.Errorf("CPU(0) = %v", got)
	}
	if got := CPU(1 << 30); got != 0 {
		t.Errorf("CPU of a missing process = %v", got)
	}
}
