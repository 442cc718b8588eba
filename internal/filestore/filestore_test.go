package filestore_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/filestore"
	"golang.org/x/sys/unix"
)

func open(t *testing.T, dir string) *filestore.Store {
	t.Helper()
	s, err := filestore.Open(dir, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func write(t *testing.T, v *filestore.Volume, dir uint64, name string, n int) unix.Stat_t {
	t.Helper()
	ctx := context.Background()
	st, err := v.Create(ctx, dir, name, 0o644, filestore.Guarded, [8]byte{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Write(ctx, st.Ino, 0, make([]byte, n), true); err != nil {
		t.Fatal(err)
	}
	return st
}

func used(t *testing.T, s *filestore.Store, id string) int64 {
	t.Helper()
	u, _, err := s.Usage(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The cost model, as the package documents it: an inode and its data
// in whole 4 KiB blocks, a directory one block, a name an ext4 entry.
func fileCost(size int64) int64  { return 256 + (size+4095)/4096*4096 }
func nameCost(name string) int64 { return 8 + int64(len(name)+3)&^3 }

const dirCost = 256 + 4096

// recount is what a fresh count of the volume's tree says.
func recount(t *testing.T, dir string) int64 {
	t.Helper()
	s := open(t, dir)
	defer s.Close()
	return used(t, s, "v")
}

// Usage counts names, inodes and whole blocks and stays exact through
// links, renames over files, truncation and removal; a fresh count
// (after a restart) says the same at every step.
func TestUsageIsExactAndSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.Create(ctx, "v", 1<<20); err != nil {
		t.Fatal(err)
	}
	v, _ := s.Volume(ctx, "v")
	check := func(what string, want int64) {
		t.Helper()
		if got := used(t, s, "v"); got != want {
			t.Fatalf("%s: used %d, want %d", what, got, want)
		}
		if got := recount(t, dir); got != want {
			t.Fatalf("%s: recounted %d, want %d", what, got, want)
		}
	}
	sub, err := v.Mkdir(ctx, v.Root(), "sub", 0o755, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := write(t, v, sub.Ino, "a", 1000)
	write(t, v, v.Root(), "b", 300)
	if _, err := v.Link(ctx, a.Ino, v.Root(), "a-link"); err != nil {
		t.Fatal(err)
	}
	base := dirCost + nameCost("sub") + nameCost("a") // sub and its a's name
	check("a linked file counts once, its names each", base+fileCost(1000)+nameCost("b")+fileCost(300)+nameCost("a-link"))
	// b replaced by a's second name: b's inode and a-link's name go.
	if err := v.Rename(ctx, v.Root(), "a-link", v.Root(), "b"); err != nil {
		t.Fatal(err)
	}
	check("after rename over b", base+fileCost(1000)+nameCost("b"))
	size := int64(200)
	if _, _, err := v.SetAttr(ctx, a.Ino, filestore.SetAttr{Size: &size}); err != nil {
		t.Fatal(err)
	}
	check("after truncate", base+fileCost(200)+nameCost("b"))
	big := int64(2 << 20)
	if _, _, err := v.SetAttr(ctx, a.Ino, filestore.SetAttr{Size: &big}); !errors.Is(err, filestore.ErrQuota) {
		t.Fatalf("growing past the quota by truncate: %v", err)
	}
	s.Close()

	// After a restart the file is found again by its id, under a renamed
	// directory, and usage is recounted.
	s = open(t, dir)
	defer s.Close()
	v, _ = s.Volume(ctx, "v")
	if err := v.Rename(ctx, v.Root(), "sub", v.Root(), "moved"); err != nil {
		t.Fatal(err)
	}
	base += nameCost("moved") - nameCost("sub")
	st, err := v.Stat(ctx, a.Ino)
	if err != nil || st.Size != 200 {
		t.Fatalf("file by id after restart and rename: %v %d", err, st.Size)
	}
	check("after restart and rename", base+fileCost(200)+nameCost("b"))
	if err := v.Remove(ctx, v.Root(), "b", false); err != nil {
		t.Fatal(err)
	}
	check("removing one of two names frees only the name", base+fileCost(200))
	if err := v.Remove(ctx, st.Ino, "a", false); err == nil {
		t.Fatal("remove in a file (not a directory) succeeded")
	}
	moved, _ := v.Lookup(ctx, v.Root(), "moved")
	if err := v.Remove(ctx, moved.Ino, "a", false); err != nil {
		t.Fatal(err)
	}
	if err := v.Remove(ctx, v.Root(), "moved", true); err != nil {
		t.Fatal(err)
	}
	check("after removing everything", 0)
	if _, err := v.Stat(ctx, a.Ino); !errors.Is(err, filestore.ErrStale) {
		t.Fatalf("removed file's id: %v", err)
	}
}

// Directories, symlinks and empty files cost bytes and inodes: symlinks
// with 4000-byte targets (the finding put 15 MB into a 4 MiB volume)
// stop at the quota, with the blocks the tree really takes on disk
// within it; empty files stop at the inode limit; Space tells the truth.
func TestEverythingCountsAgainstTheQuota(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	const quota = 1 << 20
	if err := s.Create(ctx, "v", quota); err != nil {
		t.Fatal(err)
	}
	v, _ := s.Volume(ctx, "v")
	target := strings.Repeat("t", 4000)
	n := 0
	for ; n < 1000; n++ {
		_, err := v.Symlink(ctx, v.Root(), fmt.Sprintf("l%04d", n), target, nil)
		if errors.Is(err, filestore.ErrQuota) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n == 1000 {
		t.Fatal("1000 symlinks of 4000 bytes fit in 1 MiB")
	}
	if onDisk := diskUsage(t, filepath.Join(dir, "v")); onDisk > quota {
		t.Fatalf("%d symlinks take %d bytes on disk, over the %d-byte quota", n, onDisk, quota)
	}
	sp := v.Space()
	if q, u := v.Quota(); sp.Bytes != quota || sp.FreeBytes != q-u || sp.Files != filestore.MaxInodes(quota) || sp.FreeFiles != sp.Files-int64(n) {
		t.Fatalf("space %+v after %d symlinks, used %d", sp, n, u)
	}
	for i := range n {
		if err := v.Remove(ctx, v.Root(), fmt.Sprintf("l%04d", i), false); err != nil {
			t.Fatal(err)
		}
	}
	if _, u := v.Quota(); u != 0 {
		t.Fatalf("used %d after removing the symlinks", u)
	}

	// Empty files are cheap in bytes but not free of inodes.
	limit := filestore.MaxInodes(quota)
	for i := range limit {
		if _, err := v.Create(ctx, v.Root(), fmt.Sprintf("f%05d", i), 0o644, filestore.Guarded, [8]byte{}, nil); err != nil {
			t.Fatalf("file %d of %d: %v", i, limit, err)
		}
	}
	if _, err := v.Mkdir(ctx, v.Root(), "one-more", 0o755, nil); !errors.Is(err, filestore.ErrInodes) {
		t.Fatalf("a directory past the inode limit: %v", err)
	}
	if sp := v.Space(); sp.FreeFiles != 0 {
		t.Fatalf("free files %d at the limit", sp.FreeFiles)
	}
	// Opening a file that is there makes nothing, so it is not refused.
	if _, err := v.Create(ctx, v.Root(), "f00000", 0o644, filestore.Unchecked, [8]byte{}, nil); err != nil {
		t.Fatalf("unchecked create of an existing file at the limit: %v", err)
	}
}

// The node's disk reserve applies to every growth of a volume, and
// removal still works when it bites.
func TestDiskReserveApplies(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.Create(ctx, "v", 1<<20); err != nil {
		t.Fatal(err)
	}
	v, _ := s.Volume(ctx, "v")
	f := write(t, v, v.Root(), "f", 10)
	s.Close()
	// A reserve larger than any disk: nothing may grow.
	s, err := filestore.Open(dir, filestore.Options{Reserve: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, _ = s.Volume(ctx, "v")
	for what, err := range map[string]error{
		"create": func() error {
			_, err := v.Create(ctx, v.Root(), "g", 0o644, filestore.Guarded, [8]byte{}, nil)
			return err
		}(),
		"mkdir":   func() error { _, err := v.Mkdir(ctx, v.Root(), "d", 0o755, nil); return err }(),
		"symlink": func() error { _, err := v.Symlink(ctx, v.Root(), "l", "f", nil); return err }(),
		"write":   func() error { _, _, err := v.Write(ctx, f.Ino, 0, make([]byte, 5000), false); return err }(),
	} {
		if !errs.Is(err, errs.NoSpace) {
			t.Errorf("%s into the disk reserve: %v, want a no-space error", what, err)
		}
	}
	if _, _, err := v.Write(ctx, f.Ino, 0, []byte("within"), false); err != nil {
		t.Fatalf("a write within the file's block: %v", err)
	}
	if sp := v.Space(); sp.FreeBytes != 0 {
		t.Fatalf("free bytes %d with the disk in reserve", sp.FreeBytes)
	}
	if err := v.Remove(ctx, v.Root(), "f", false); err != nil {
		t.Fatalf("remove with the disk in reserve: %v", err)
	}
}

// diskUsage is what du says: the blocks every inode under dir holds.
func diskUsage(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if !seen[st.Ino] {
			seen[st.Ino] = true
			total += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// A delete a crash interrupted is finished at the next start.
func TestDeleteIsFinishedAfterACrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.Create(ctx, "v", 1<<20); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// What Delete leaves between its rename and its removal.
	if err := os.Rename(filepath.Join(dir, "v"), filepath.Join(dir, ".trash-v-1")); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
	if _, err := s.Volume(ctx, "v"); err == nil {
		t.Fatal("deleted volume opens")
	}
	if err := s.Delete(ctx, "v"); err != nil {
		t.Fatalf("deleting again: %v", err)
	}
	for _, bad := range []string{"", "../x", ".trash-v", "a/b"} {
		if err := s.Create(ctx, bad, 1); err == nil {
			t.Errorf("volume id %q accepted", bad)
		}
	}
}
