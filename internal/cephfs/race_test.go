//go:build ceph

package cephfs_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stowage/stowage/internal/filestore"
)

// A tenant writing through one node swaps a directory of its volume for
// a symbolic link leading out of it ("../<other volume>" and "../..")
// and back, over and over, while another node serves the same volume:
// looking names up, listing, reading and writing through the swapped
// name, by cached ids and by forged ids that are another tenant's inode
// numbers. Nothing the second node does may reach outside the volume:
// the other volume's canary is never read, listed, looked up or changed.
func TestCephSwappedDirectoryNeverLeadsOut(t *testing.T) {
	ctx := context.Background()
	stA, stB := open(t), open(t) // two libcephfs clients: two nodes
	mine, theirs := newID(), newID()
	for _, id := range []string{mine, theirs} {
		if err := stA.Create(ctx, id, 16<<20); err != nil {
			t.Fatal(err)
		}
		defer stA.Delete(ctx, id)
	}
	canary := []byte("CANARY-" + theirs)
	victim, err := stA.Volume(ctx, theirs)
	if err != nil {
		t.Fatal(err)
	}
	// The victim holds what the swapped name would lead to: a file of
	// the name the tenant's directory holds, and a secret.
	var secrets []uint64
	for _, name := range []string{"f", "secret"} {
		st, err := victim.Create(ctx, victim.Root(), name, 0o644, filestore.Guarded, [8]byte{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := victim.Write(ctx, st.Ino, 0, canary, true); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, st.Ino)
	}
	secrets = append(secrets, victim.Root())

	a, err := stA.Volume(ctx, mine)
	if err != nil {
		t.Fatal(err)
	}
	d, err := a.Mkdir(ctx, a.Root(), "d", 0o777, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.Create(ctx, d.Ino, "f", 0o666, filestore.Guarded, [8]byte{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	own := []byte("mine")
	if _, _, err := a.Write(ctx, f.Ino, 0, own, true); err != nil {
		t.Fatal(err)
	}
	// Other directories, walked before or after d when node B looks for
	// a file id it has not seen, give the swaps time to happen between
	// seeing d as a directory and going into it.
	for i := 0; i < 40; i++ {
		if _, err := a.Mkdir(ctx, a.Root(), fmt.Sprintf("pad%02d", i), 0o777, nil); err != nil {
			t.Fatal(err)
		}
	}
	b, err := stB.Volume(ctx, mine)
	if err != nil {
		t.Fatal(err)
	}

	// Node A swaps until node B has made its rounds of probes.
	const rounds = 20
	stop := make(chan struct{})
	swaps := 0
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				swaps = i
				return
			default:
			}
			target := "../" + theirs
			if i%3 == 2 {
				target = "../.."
			}
			if err := a.Rename(ctx, a.Root(), "d", a.Root(), "d.away"); err != nil {
				t.Errorf("swap %d: %v", i, err)
				return
			}
			if _, err := a.Symlink(ctx, a.Root(), "d", target, nil); err != nil {
				t.Errorf("swap %d: %v", i, err)
				return
			}
			if err := a.Remove(ctx, a.Root(), "d", false); err != nil {
				t.Errorf("swap %d back: %v", i, err)
				return
			}
			if err := a.Rename(ctx, a.Root(), "d.away", a.Root(), "d"); err != nil {
				t.Errorf("swap %d back: %v", i, err)
				return
			}
		}
	}()

	var mu sync.Mutex
	var escapes []string
	escaped := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(escapes) < 20 {
			escapes = append(escapes, fmt.Sprintf(format, args...))
		}
	}
	// Node B probes every way out until node A is done.
	probes := []func(buf []byte){
		func([]byte) { // through the swapped directory, by its id
			if st, err := b.Lookup(ctx, d.Ino, "secret"); err == nil {
				escaped("lookup of the victim's secret through d: ino %d", st.Ino)
			}
			if st, err := b.Lookup(ctx, d.Ino, "f"); err == nil && st.Ino != f.Ino {
				escaped("lookup of f through d found ino %d, not %d", st.Ino, f.Ino)
			}
		},
		func([]byte) {
			if ents, _, err := b.ReadDir(ctx, d.Ino, 0, 100); err == nil {
				for _, e := range ents {
					if e.Name != "." && e.Name != ".." && e.Name != "f" {
						escaped("listing d shows %q", e.Name)
					}
				}
			}
		},
		func(buf []byte) { // a cached file under the swapped directory
			if n, _, _, err := b.Read(ctx, f.Ino, 0, buf); err == nil && !bytes.Equal(buf[:n], own) {
				escaped("reading f gave %q", buf[:n])
			}
			_, _, _ = b.Write(ctx, f.Ino, 0, own, false) // a failed write is no escape
		},
		func(buf []byte) { // forged ids: the other tenant's inode numbers
			for _, ino := range secrets {
				if _, err := b.Stat(ctx, ino); err == nil {
					escaped("stat of the victim's inode %d", ino)
				}
				if n, _, _, err := b.Read(ctx, ino, 0, buf); err == nil {
					escaped("read of the victim's inode %d: %q", ino, buf[:n])
				}
				if _, _, err := b.Write(ctx, ino, 0, []byte("PWNED"), false); err == nil {
					escaped("write to the victim's inode %d", ino)
				}
				if ents, _, err := b.ReadDir(ctx, ino, 0, 100); err == nil {
					escaped("listing the victim's inode %d: %d entries", ino, len(ents))
				}
			}
		},
	}
	buf := make([]byte, 4096)
	for i := 0; i < rounds; i++ {
		for _, probe := range probes {
			probe(buf)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d swaps on node A, %d rounds of probes on node B", swaps, rounds)
	for _, e := range escapes {
		t.Errorf("escaped the volume: %s", e)
	}
	// Node B still serves the volume's own files once the name is back.
	if n, _, _, err := b.Read(ctx, f.Ino, 0, buf); err != nil || !bytes.Equal(buf[:n], own) {
		t.Errorf("reading f on node B after the swaps: %q (%v)", buf[:n], err)
	}
	if st, err := b.Lookup(ctx, d.Ino, "f"); err != nil || st.Ino != f.Ino {
		t.Errorf("looking f up on node B after the swaps: ino %d (%v), want %d", st.Ino, err, f.Ino)
	}
	// The victim's files, read on the node that made them, are as made.
	for _, ino := range secrets[:2] {
		n, _, _, err := victim.Read(ctx, ino, 0, buf)
		if err != nil || !bytes.Equal(buf[:n], canary) {
			t.Errorf("the victim's file %d now holds %q (%v)", ino, buf[:n], err)
		}
	}
}
