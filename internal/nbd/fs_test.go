package nbd_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/blockstore"
)

// attachment is an export exposed as a block device with no kernel NBD
// driver: nbdfuse serves it as a file, a loop device makes that file a
// block device.
type attachment struct {
	fuse *exec.Cmd
	file string
	loop string
}

func attach(t *testing.T, uri, dir string, size int64) (*attachment, string) {
	t.Helper()
	a := &attachment{file: filepath.Join(dir, "disk")}
	if err := os.WriteFile(a.file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a.fuse = exec.Command(lookTool(t, "nbdfuse"), a.file, uri)
	var stderr bytes.Buffer
	a.fuse.Stderr = &stderr
	if err := a.fuse.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if fi, err := os.Stat(a.file); err == nil && fi.Size() == size {
			break
		}
		if time.Now().After(deadline) {
			a.detach(t)
			return nil, fmt.Sprintf("nbdfuse did not expose the export: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, err := exec.Command(lookTool(t, "losetup"), "-f", "--show", a.file).CombinedOutput()
	if err != nil {
		a.detach(t)
		return nil, fmt.Sprintf("losetup refused a loop device: %v: %s", err, out)
	}
	a.loop = strings.TrimSpace(string(out))
	return a, ""
}

func (a *attachment) detach(t *testing.T) {
	t.Helper()
	if a.loop != "" {
		if out, err := exec.Command("losetup", "-d", a.loop).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v %s", a.loop, err, out)
		}
		a.loop = ""
	}
	if a.fuse != nil {
		// Unmounting makes nbdfuse flush and exit.
		for i := 0; i < 50; i++ {
			if exec.Command("fusermount3", "-u", a.file).Run() == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		done := make(chan error, 1)
		go func() { done <- a.fuse.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			a.fuse.Process.Kill()
			<-done
			t.Errorf("nbdfuse did not exit after unmount")
		}
		a.fuse = nil
	}
}

// TestFilesystem makes an ext4 filesystem on an export, writes files,
// detaches everything, attaches again through fresh clients and reads the
// files back after a forced fsck.
func TestFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: loop devices and mount need root (running as uid", os.Geteuid(), ")")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("skipping: the kernel offers no FUSE device: %v", err)
	}
	for _, tool := range []string{"nbdfuse", "fusermount3", "losetup", "mkfs.ext4", "fsck.ext4", "mount", "umount"} {
		lookTool(t, tool)
	}
	s := startServer(t)
	ctx := context.Background()
	const size = 256 << 20
	if err := s.pool.Create(ctx, "fs", size); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for i := range 24 {
		files[fmt.Sprintf("f%02d", i)] = bytes.Repeat([]byte(fmt.Sprintf("file %d line\n", i)), 1000*(i+1))
	}

	a, why := attach(t, s.uri("fs"), dir, size)
	if a == nil {
		t.Skip("skipping:", why)
	}
	mounted := false
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", mnt).Run()
		}
		a.detach(t)
	})
	run(t, "mkfs.ext4", "-q", "-F", a.loop)
	run(t, "mount", a.loop, mnt)
	mounted = true
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(mnt, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run(t, "umount", mnt)
	mounted = false
	a.detach(t)

	a, why = attach(t, s.uri("fs"), dir, size)
	if a == nil {
		t.Fatal(why) // it worked a moment ago
	}
	run(t, "fsck.ext4", "-n", "-f", a.loop)
	run(t, "mount", a.loop, mnt)
	mounted = true
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(mnt, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s differs after remount", name)
		}
	}
	run(t, "umount", mnt)
	mounted = false
	st, err := s.pool.(*blockstore.Pool).Stat(ctx, "fs")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ext4 on %s via nbdfuse: %d of %d bytes allocated in the pool", a.loop, st.Allocated, st.Size)
	if st.Allocated == 0 || st.Allocated == size {
		t.Fatalf("allocation %d: the filesystem did not go through the thin pool", st.Allocated)
	}
}
