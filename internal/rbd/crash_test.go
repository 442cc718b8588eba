//go:build ceph

package rbd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestCreateAfterKilledCreate kills a process in the middle of creating,
// cloning or snapshotting an image, at delays spread over the call, and
// then runs the step again, as a job re-run after a crash does: it must
// finish the volume or snapshot, whatever part of librbd's create, clone
// or snapshot the killed attempt got through, and it must read back.
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
	// Steps spread the kills over each call: a create takes about 6 ms
	// here, a clone or snapshot 30 to 120.
	ops := []string{"create", "clone", "snapshot"}
	step := map[string]time.Duration{"create": time.Millisecond / 2, "clone": 5 * time.Millisecond, "snapshot": 5 * time.Millisecond}
	for i := range 24 * len(ops) {
		op, id := ops[i%len(ops)], newID(t, "killed")
		cmd := exec.Command(os.Args[0], "-test.run=^TestCreateAfterKilledCreate$")
		cmd.Env = append(os.Environ(), "STOWAGE_TEST_RBD_OP="+op+" "+src+" "+id)
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(out)
		line, err := r.ReadString('\n')
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
		if err != nil || !ok {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child: %q %v", line, err)
		}
		fmt.Fprintln(in, "go")
		delay := time.Duration(i/len(ops)) * step[op]
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		// As a restarted node fences its previous instance: the dead
		// child's exclusive lock on src goes at once, not after the
		// watch timeout.
		if err := s.Blocklist(ctx, addr, time.Minute); err != nil {
			t.Fatal(err)
		}
		switch op {
		case "create":
			err = s.Create(ctx, id, 8*mib)
		case "clone":
			err = s.Clone(ctx, src, id)
		default:
			err = s.Snapshot(ctx, src, id)
		}
		if err != nil {
			t.Errorf("%s again after a kill %v in: %v", op, delay, err)
			continue
		}
		if op != "create" {
			if err := readsBack(s, id, fill('s', 4096)); err != nil {
				t.Errorf("%s again after a kill %v in: %v", op, delay, err)
			}
		}
		if err := s.Delete(ctx, id); err != nil {
			t.Error(err)
		}
	}
}

// readsBack checks that id opens and starts with want.
func readsBack(s *Store, id string, want []byte) error {
	v, err := s.Volume(context.Background(), id)
	if err != nil {
		return err
	}
	defer v.Close()
	got := make([]byte, len(want))
	if err := v.ReadAt(context.Background(), got, 0); err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("reads %x…, want %x…", got[:8], want[:8])
	}
	return nil
}

// createOnCue is the child: it connects, says so, and on a line from
// the parent creates, clones or snapshots the image that op names.
func createOnCue(op string) {
	var kind, src, id string
	fmt.Sscan(op, &kind, &src, &id)
	s, err := Open(context.Background(), Options{Conf: os.Getenv("TEST_CEPH_CONF"), User: "client.stowage", Pool: "stowage-volumes"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	addr, err := s.ClientAddr()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready", addr)
	bufio.NewReader(os.Stdin).ReadString('\n')
	switch kind {
	case "create":
		err = s.Create(context.Background(), id, 8*mib)
	case "clone":
		err = s.Clone(context.Background(), src, id)
	default:
		err = s.Snapshot(context.Background(), src, id)
	}
	fmt.Fprintln(os.Stderr, kind, "finished:", err)
	select {}
}
