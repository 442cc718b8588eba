package backup_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/backup"
	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/nbd/nbdtest"
)

// dirStore is a DirStore that can stop before a manifest, where the crash
// test kills its process.
type dirStore struct {
	backup.DirStore
	dir string
	// beforeManifest, when set, runs before a manifest is stored.
	beforeManifest func()
}

func newDirStore(dir string) *dirStore {
	return &dirStore{DirStore: backup.DirStore{Dir: dir}, dir: dir}
}

func (d *dirStore) path(key string) string { return filepath.Join(d.dir, filepath.FromSlash(key)) }

func (d *dirStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if strings.Contains("/"+key, "/manifests/") && d.beforeManifest != nil {
		d.beforeManifest()
	}
	return d.DirStore.Put(ctx, key, r, size)
}

var run = nbdtest.Run

func randomWrite(t *testing.T, v *blockstore.Volume, off, n int64) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := v.WriteAt(context.Background(), b, off); err != nil {
		t.Fatal(err)
	}
	if err := v.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func newKey(t *testing.T) []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func vol(t *testing.T, p *blockstore.Pool, id string) *blockstore.Volume {
	t.Helper()
	v, err := p.Volume(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// backupSnap snapshots volume v as snap and backs it up against parent
// (and its snapshot, parentSnap), as the volume service does.
func backupSnap(t *testing.T, p *blockstore.Pool, set *backup.Set, v, snap, parentSnap, id, parent string) backup.Result {
	t.Helper()
	ctx := context.Background()
	if err := p.Snapshot(ctx, v, snap); err != nil {
		t.Fatal(err)
	}
	changed, err := p.Changed(ctx, parentSnap, snap)
	if err != nil {
		t.Fatal(err)
	}
	res, err := set.Backup(ctx, vol(t, p, snap), backup.Options{ID: id, Parent: parent, Changed: changed,
		ChunkSize: p.ChunkSize(), Now: time.Now(), PackSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func restore(t *testing.T, p *blockstore.Pool, set *backup.Set, id, into string, size int64) {
	t.Helper()
	ctx := context.Background()
	if err := p.Create(ctx, into, size); err != nil {
		t.Fatal(err)
	}
	if _, err := set.Restore(ctx, id, vol(t, p, into)); err != nil {
		t.Fatal(err)
	}
}

// TestBackupRestore makes a full and an incremental backup of a volume
// written with qemu-io over NBD, restores each into a new volume and
// compares it with its snapshot through the NBD export (qemu-img compare),
// deletes the first backup and restores the second again, and checks that
// a changed byte in the bucket is detected.
func TestBackupRestore(t *testing.T) {
	ctx := context.Background()
	p, err := blockstore.Open(ctx, t.TempDir(), blockstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	uri := nbdtest.ServePool(t, p)
	const size = 64 << 20
	if err := p.Create(ctx, "v", size); err != nil {
		t.Fatal(err)
	}
	// Random data, so that packs fill and each holds a part of the volume.
	randomWrite(t, vol(t, p, "v"), 0, 8<<20)
	run(t, "qemu-io", "-f", "raw", "-c", "write -P 0x22 20M 3M",
		"-c", "write -P 0x33 40000000 100000", "-c", "write -P 0x44 63M 1M", uri("v"))
	st := newDirStore(t.TempDir())
	set, err := backup.Open(st, "vol-v/", "v", newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	set.Grace = 0 // no backup runs alongside this test's deletes

	full := backupSnap(t, p, set, "v", "s1", "", "b1", "")
	if full.Chunks != (8<<20+3<<20+2*64<<10+1<<20)/(64<<10) {
		t.Errorf("full backup lists %d chunks", full.Chunks)
	}
	// Change 3 chunks (one partly), zero one, trim 2 MiB: the trim drops
	// every chunk of at least one of the first backup's 1 MiB packs.
	run(t, "qemu-io", "-f", "raw", "-c", "write -P 0x55 64k 64k", "-c", "write -P 0x66 20M 4k",
		"-c", "write -P 0x77 50M 64k", "-c", "write -z 63M 64k", "-c", "discard 1M 2M", uri("v"))
	inc := backupSnap(t, p, set, "v", "s2", "s1", "b2", "b1")
	if inc.Stored > 4*(64<<10+1024) {
		t.Errorf("incremental backup stored %d bytes for 3 changed chunks", inc.Stored)
	}
	if inc.Chunks != full.Chunks-32-1+1 {
		t.Errorf("incremental backup lists %d chunks, want %d", inc.Chunks, full.Chunks-32)
	}
	if ids, err := set.List(ctx); err != nil || strings.Join(ids, ",") != "b1,b2" {
		t.Fatalf("List: %v %v", ids, err)
	}
	restore(t, p, set, "b1", "r1", size)
	run(t, "qemu-img", "compare", "-f", "raw", "-F", "raw", uri("s1"), uri("r1"))
	restore(t, p, set, "b2", "r2", size)
	run(t, "qemu-img", "compare", "-f", "raw", "-F", "raw", uri("s2"), uri("r2"))
	// Restores write only data: holes stay holes.
	if a, _ := p.Stat(ctx, "r2"); a.Allocated != inc.Chunks*p.ChunkSize() {
		t.Errorf("restored volume maps %d bytes for %d chunks", a.Allocated, inc.Chunks)
	}

	packs := func() int {
		keys, _ := st.List(ctx, "vol-v/packs/")
		return len(keys)
	}
	before := packs()
	if err := set.Delete(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	if packs() >= before {
		t.Errorf("deleting b1 left all %d packs", before)
	}
	if _, err := set.Manifest(ctx, "b1"); !errs.Is(err, errs.NotExist) {
		t.Errorf("deleted backup: %v", err)
	}
	restore(t, p, set, "b2", "r3", size)
	run(t, "qemu-img", "compare", "-f", "raw", "-F", "raw", uri("s2"), uri("r3"))

	// A byte changed in the bucket fails authentication; so does a
	// manifest opened with another key or renamed to another backup.
	keys, _ := st.List(ctx, "vol-v/packs/")
	b, _ := os.ReadFile(st.path(keys[0]))
	b[len(b)/2] ^= 1
	os.WriteFile(st.path(keys[0]), b, 0o600)
	if err := p.Create(ctx, "r4", size); err != nil {
		t.Fatal(err)
	}
	if _, err := set.Restore(ctx, "b2", vol(t, p, "r4")); !errs.Is(err, errs.Invalid) {
		t.Errorf("restore from a changed pack: %v", err)
	}
	other, _ := backup.Open(st, "vol-v/", "v", newKey(t))
	defer other.Close()
	if _, err := other.Manifest(ctx, "b2"); !errs.Is(err, errs.Invalid) {
		t.Errorf("manifest under another key: %v", err)
	}
	m, _ := os.ReadFile(st.path("vol-v/manifests/b2"))
	os.WriteFile(st.path("vol-v/manifests/b9"), m, 0o600)
	if _, err := set.Manifest(ctx, "b9"); !errs.Is(err, errs.Invalid) {
		t.Errorf("renamed manifest: %v", err)
	}
}

// TestCrashMidBackup kills a process in the middle of a backup, after it
// stored its packs and before its manifest: the set still lists only the
// complete backup, which restores; GC removes the orphaned packs and the
// next backup succeeds.
func TestCrashMidBackup(t *testing.T) {
	if dir := os.Getenv("BACKUP_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	ctx := context.Background()
	poolDir, bucket := t.TempDir(), t.TempDir()
	key := newKey(t)
	p, err := blockstore.Open(ctx, poolDir, blockstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const size = 32 << 20
	if err := p.Create(ctx, "v", size); err != nil {
		t.Fatal(err)
	}
	uri := nbdtest.ServePool(t, p)
	randomWrite(t, vol(t, p, "v"), 0, 4<<20)
	st := newDirStore(bucket)
	set, _ := backup.Open(st, "", "v", key)
	defer set.Close()
	backupSnap(t, p, set, "v", "s1", "", "b1", "")
	if n, err := set.GC(ctx); err != nil || n != 0 {
		t.Fatalf("GC of a complete set deleted %d packs: %v", n, err)
	}
	b1Packs, _ := st.List(ctx, "packs/")
	randomWrite(t, vol(t, p, "v"), 8<<20, 8<<20)
	if err := p.Snapshot(ctx, "v", "s2"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bucket, ".key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashMidBackup$")
	cmd.Env = append(os.Environ(), "BACKUP_CRASH_CHILD="+poolDir+"\n"+bucket)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(bucket, ".at-manifest")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the child never reached its manifest")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	cmd.Process.Kill()
	cmd.Wait()
	os.Remove(marker)

	if ids, err := set.List(ctx); err != nil || strings.Join(ids, ",") != "b1" {
		t.Fatalf("after the crash List = %v %v, want only b1", ids, err)
	}
	keys, _ := st.List(ctx, "packs/")
	if len(keys) < len(b1Packs)+8 {
		t.Fatalf("the child stored %d packs in all; the crash came too early to test anything", len(keys))
	}
	p, err = blockstore.Open(ctx, poolDir, blockstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	uri = nbdtest.ServePool(t, p)
	restore(t, p, set, "b1", "r1", size)
	run(t, "qemu-img", "compare", "-f", "raw", "-F", "raw", uri("s1"), uri("r1"))
	// The orphans are younger than the grace period: a backup might still
	// be writing them. Past it, they go.
	if n, err := set.GC(ctx); err != nil || n != 0 {
		t.Errorf("GC within the grace period deleted %d packs (%v)", n, err)
	}
	set.Grace = 0
	if n, err := set.GC(ctx); err != nil || n != len(keys)-len(b1Packs) {
		t.Errorf("GC deleted %d packs (%v), want the %d orphans", n, err, len(keys)-len(b1Packs))
	}
	backupSnap(t, p, set, "v", "s3", "s1", "b2", "b1")
	restore(t, p, set, "b2", "r2", size)
	run(t, "qemu-img", "compare", "-f", "raw", "-F", "raw", uri("s2"), uri("r2"))
}

// crashChild backs up s2 against s1 and hangs before its manifest, where
// the parent kills it.
func crashChild(env string) {
	poolDir, bucket, _ := strings.Cut(env, "\n")
	ctx := context.Background()
	p, err := blockstore.Open(ctx, poolDir, blockstore.Options{})
	if err != nil {
		panic(err)
	}
	key, _ := os.ReadFile(filepath.Join(bucket, ".key"))
	st := newDirStore(bucket)
	st.beforeManifest = func() {
		os.WriteFile(filepath.Join(bucket, ".at-manifest"), nil, 0o600)
		select {} // the parent kills us here
	}
	set, _ := backup.Open(st, "", "v", key)
	changed, err := p.Changed(ctx, "s1", "s2")
	if err != nil {
		panic(err)
	}
	v, _ := p.Volume(ctx, "s2")
	_, err = set.Backup(ctx, v, backup.Options{ID: "b2", Parent: "b1", Changed: changed, ChunkSize: p.ChunkSize(),
		Now: time.Now(), PackSize: 1 << 20})
	panic(fmt.Sprintf("backup returned: %v", err))
}
