package native_test

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

// backend is where a test's volumes live. The volume tests are bodies that
// take one: the thin pool here, RBD in the Ceph suite (ceph_test.go), so
// both backends pass the same behaviour through real NBD clients.
type backend struct {
	// opts configure the server for the backend.
	opts func(t *testing.T) []testenv.Option
	// unit is the granularity in which the backend allocates: a write
	// makes every unit it touches count in full. The tests write whole
	// MiBs, so the thin pool's smaller chunks count exactly.
	unit int64
	// chunk is the unit of an incremental backup: the thin pool's chunk
	// or RBD's object, copied whole when any of it changed.
	chunk int64
}

var thinPool = backend{opts: func(*testing.T) []testenv.Option { return nil }, unit: mib, chunk: 64 << 10}

// start runs a server on the backend with the test's own options too.
func (b backend) start(t *testing.T, opts ...testenv.Option) *testenv.Env {
	return testenv.Start(t, append(b.opts(t), opts...)...)
}

// allocated is what writing the extents {offset, length} costs.
func (b backend) allocated(extents ...[2]int64) int64 {
	var n int64
	for _, x := range extents {
		first, end := x[0]/b.unit, (x[0]+x[1]+b.unit-1)/b.unit
		n += (end - first) * b.unit
	}
	return n
}

// qemuSession is one qemu-io process kept connected to an export, to
// check what a client that stays connected sees.
type qemuSession struct {
	t     *testing.T
	stdin io.Writer
	lines chan string
}

func startQemuSession(t *testing.T, uri string) *qemuSession {
	t.Helper()
	cmd := exec.Command("qemu-io", "-f", "raw", uri)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s := &qemuSession{t: t, stdin: stdin, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	return s
}

// send sends a qemu-io command that prints nothing when it works.
func (s *qemuSession) send(cmd string) { fmt.Fprintln(s.stdin, cmd) }

// do sends one qemu-io command and returns the first output line that
// contains want.
func (s *qemuSession) do(cmd, want string) string {
	s.t.Helper()
	fmt.Fprintln(s.stdin, cmd)
	timeout := time.After(10 * time.Second)
	var seen []string
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				s.t.Fatalf("qemu-io ended before %q (after %q):\n%s", want, cmd, strings.Join(seen, "\n"))
			}
			if strings.Contains(l, want) {
				return l
			}
			seen = append(seen, l)
		case <-timeout:
			s.t.Fatalf("no %q from qemu-io after %q:\n%s", want, cmd, strings.Join(seen, "\n"))
		}
	}
}
