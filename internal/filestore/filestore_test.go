package filestore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stowage/stowage/internal/filestore"
	"golang.org/x/sys/unix"
)

func open(t *testing.T, dir string) *filestore.Store {
	t.Helper()
	s, err := filestore.Open(dir)
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

// Usage stays exact through links, renames over files, truncation and
// removal, and a restart counts the same.
func TestUsageIsExactAndSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.Create(ctx, "v", 1<<20); err != nil {
		t.Fatal(err)
	}
	v, _ := s.Volume(ctx, "v")
	sub, err := v.Mkdir(ctx, v.Root(), "sub", 0o755, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := write(t, v, sub.Ino, "a", 1000)
	write(t, v, v.Root(), "b", 300)
	if _, err := v.Link(ctx, a.Ino, v.Root(), "a-link"); err != nil {
		t.Fatal(err)
	}
	if got := used(t, s, "v"); got != 1300 {
		t.Fatalf("used %d, want 1300 (a linked file counts once)", got)
	}
	// b replaced by a's second name: b's 300 bytes are freed.
	if err := v.Rename(ctx, v.Root(), "a-link", v.Root(), "b"); err != nil {
		t.Fatal(err)
	}
	if got := used(t, s, "v"); got != 1000 {
		t.Fatalf("after rename over b: %d", got)
	}
	size := int64(200)
	if _, _, err := v.SetAttr(ctx, a.Ino, filestore.SetAttr{Size: &size}); err != nil {
		t.Fatal(err)
	}
	if got := used(t, s, "v"); got != 200 {
		t.Fatalf("after truncate: %d", got)
	}
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
	st, err := v.Stat(ctx, a.Ino)
	if err != nil || st.Size != 200 {
		t.Fatalf("file by id after restart and rename: %v %d", err, st.Size)
	}
	if got := used(t, s, "v"); got != 200 {
		t.Fatalf("recounted %d", got)
	}
	if err := v.Remove(ctx, v.Root(), "b", false); err != nil {
		t.Fatal(err)
	}
	if got := used(t, s, "v"); got != 200 {
		t.Fatalf("removing one of two names freed bytes: %d", got)
	}
	if err := v.Remove(ctx, st.Ino, "a", false); err == nil {
		t.Fatal("remove in a file (not a directory) succeeded")
	}
	moved, _ := v.Lookup(ctx, v.Root(), "moved")
	if err := v.Remove(ctx, moved.Ino, "a", false); err != nil {
		t.Fatal(err)
	}
	if got := used(t, s, "v"); got != 0 {
		t.Fatalf("after removing everything: %d", got)
	}
	if _, err := v.Stat(ctx, a.Ino); !errors.Is(err, filestore.ErrStale) {
		t.Fatalf("removed file's id: %v", err)
	}
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
