//go:build ceph

package rbd

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestBlocklistHandsOverTheLock: a client that holds an image's exclusive
// lock and is then blocklisted (as client.stowage, whose `profile rbd`
// mon caps allow it) gives the lock up at once — another client writes
// without waiting for the watch timeout — and its own writes fail
// instead of landing.
func TestBlocklistHandsOverTheLock(t *testing.T) {
	a, b := testStore(t), testStore(t)
	ctx := context.Background()
	id := newID(t, "fence")
	if err := a.Create(ctx, id, 4*mib); err != nil {
		t.Fatal(err)
	}
	va, err := a.Volume(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer va.Close()
	// The write takes the exclusive lock; a keeps the image open.
	if err := va.WriteAt(ctx, fill(0xaa, mib), 0); err != nil {
		t.Fatal(err)
	}
	if err := va.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	addr, err := a.ClientAddr()
	if err != nil || addr == "" || strings.ContainsAny(addr, " \n") {
		t.Fatalf("client address %q: %v", addr, err)
	}
	t.Logf("client address %s", addr)
	if err := b.Blocklist(ctx, addr, time.Hour); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	write(t, b, id, fill(0xbb, mib), 0)
	t.Logf("the other client wrote %s after the blocklist", time.Since(start).Round(time.Millisecond))
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the lock took %s to change hands: the blocklist did not drop the holder's watch", d)
	}
	err = va.WriteAt(ctx, fill(0xcc, mib), 0)
	if err == nil {
		err = va.Flush(ctx)
	}
	if !blocklisted(err) {
		t.Fatalf("the blocklisted client's write: %v, want a blocklisted error", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !a.Fenced(pctx) {
		t.Fatal("the blocklisted client does not find itself fenced")
	}
	expect(t, b, id, fill(0xbb, mib), 0)
}
