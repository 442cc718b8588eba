//go:build ceph

package rbd

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestCreateAfterKilledCreate kills a process in the middle of creating or
// cloning an image, at delays spread over the call, and then runs the
// step again, as a job re-run after a crash does: it must finish the
// volume, whatever part of librbd's create or clone the killed attempt
// got through.
func TestCreateAfterKilledCreate(t *testing.T) {
	if op := os.Getenv("STOWAGE_TEST_RBD_OP"); op != "" {
		createOnCue(op)
		return
	}
	s := testStore(t)
	ctx := context.Background()
	src := newID(t, "src")
	if err := s.Create(ctx, src, 8*mib); err != nil {
		t.Fatal(err)
	}
	write(t, s, src, fill('s', 4096), 0)
	t.Cleanup(func() { s.Delete(context.Background(), src) })
	for i := range 40 {
		op, id := "create", newID(t, "killed")
		if i%2 == 1 {
			op = "clone"
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCreateAfterKilledCreate$")
		cmd.Env = append(os.Environ(), "STOWAGE_TEST_RBD_OP="+op+" "+src+" "+id)
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(out)
		if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child: %q %v", line, err)
		}
		fmt.Fprintln(in, "go")
		time.Sleep(time.Duration(i/2) * time.Millisecond / 2)
		cmd.Process.Kill()
		cmd.Wait()
		var err error
		if op == "create" {
			err = s.Create(ctx, id, 8*mib)
		} else {
			err = s.Clone(ctx, src, id)
		}
		if err != nil {
			t.Errorf("%s again after a kill %.1f ms in: %v", op, float64(i/2)/2, err)
			continue
		}
		if op == "clone" {
			expect(t, s, id, fill('s', 4096), 0)
		}
		if err := s.Delete(ctx, id); err != nil {
			t.Error(err)
		}
	}
}

// createOnCue is the child: it connects, says so, and on a line from
// the parent creates or clones the image that op names.
func createOnCue(op string) {
	var kind, src, id string
	fmt.Sscan(op, &kind, &src, &id)
	s, err := Open(context.Background(), Options{Conf: os.Getenv("TEST_CEPH_CONF"), User: "client.stowage", Pool: "stowage-volumes"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	if kind == "create" {
		err = s.Create(context.Background(), id, 8*mib)
	} else {
		err = s.Clone(context.Background(), src, id)
	}
	fmt.Fprintln(os.Stderr, kind, "finished:", err)
	select {}
}
