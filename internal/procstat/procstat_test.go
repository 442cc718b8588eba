package procstat

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// Reading a file whose pages were dropped from the page cache counts as
// read from disk; reading it again, now cached, does not.
func TestDiskRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	data := bytes.Repeat([]byte("stowage!"), 1<<17) // 1 MiB
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Written pages must be clean before the kernel will drop them.
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	read := func() int64 {
		before := DiskRead(os.Getpid())
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back: %v", err)
		}
		return DiskRead(os.Getpid()) - before
	}
	if cold := read(); cold < int64(len(data)) {
		t.Errorf("a cold read of %d bytes counted %d read from disk", len(data), cold)
	}
	if warm := read(); warm != 0 {
		t.Errorf("a cached read counted %d bytes read from disk", warm)
	}
	if got := DiskRead(0); got != 0 {
		t.Errorf("DiskRead(0) = %d", got)
	}
	if got := DiskRead(1 << 30); got != 0 {
		t.Errorf("DiskRead of a missing process = %d", got)
	}
}
