package native_test

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

// TestDetachDisconnectsClients keeps one qemu-io session connected across a
// detach: its next request must fail, because detach revokes the export
// and cuts live connections, not only new ones.
func TestDetachDisconnectsClients(t *testing.T) {
	e := testenv.Start(t)
	c := client{t: t, e: e, auth: testenv.Bearer(e.AdminToken)}
	prj := c.project()
	vm := c.instance(prj, "vm")
	v := c.createVolume(map[string]any{"project_id": prj, "name": "v", "size": 8 * mib})
	att := c.attach(v.ID, vm)

	cmd := exec.Command("qemu-io", "-f", "raw", att.ConnectionInfo.URI)
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
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitFor := func(what string) string {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("qemu-io ended before %q", what)
				}
				if strings.Contains(l, what) {
					return l
				}
			case <-timeout:
				t.Fatalf("no %q from qemu-io", what)
			}
		}
	}
	io.WriteString(stdin, "write -P 0x55 0 4k\n")
	waitFor("wrote 4096/4096 bytes")

	c.accepted("POST", "/api/v1/volumes/"+v.ID+"/detach", map[string]any{})
	io.WriteString(stdin, "read -P 0x55 0 4k\n")
	l := waitFor("failed")
	t.Logf("after detach qemu-io says: %s", l)
	io.WriteString(stdin, "quit\n")
}
