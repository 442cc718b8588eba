package nbd_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

// run executes a real client tool and returns its combined output. A
// missing tool fails the test: `make test` installs them all.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (apt-get install qemu-utils libnbd-bin nbdkit nbdfuse fio fuse3 e2fsprogs): %v", name, err)
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestNbdinfo(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	if err := s.pool.Create(ctx, "vol1", 64<<20); err != nil {
		t.Fatal(err)
	}
	if err := s.pool.Snapshot(ctx, "vol1", "snap1"); err != nil {
		t.Fatal(err)
	}
	out := run(t, "nbdinfo", s.uri("vol1"))
	t.Log(out)
	out = run(t, "nbdinfo", s.uri("snap1"))
	t.Log(out)
	out = run(t, "nbdinfo", "--list", "nbd://"+s.addr)
	t.Log(out)
}
