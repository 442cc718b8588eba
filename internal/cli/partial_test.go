package cli

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestPartialFile: a download resumes only the partial file of the same
// object version; partial files of other versions go, other files stay.
func TestPartialFile(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"f.bin.0123456789ab.part", "f.bin.notours.part", "g.bin.0123456789ab.part", "f.bin"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := partialFile(filepath.Join(dir, "f.bin"), "d41d8cd98f00b204e9800998ecf8427e")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := partialFile(filepath.Join(dir, "f.bin"), "d41d8cd98f00b204e9800998ecf8427e")
	other, _ := partialFile(filepath.Join(dir, "f.bin"), "9e107d9d372bb6826bd81d3542a419d6-2")
	if p != again || p == other || !isPartial(filepath.Base(p), "f.bin") {
		t.Errorf("partial files %s, %s, %s", p, again, other)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"f.bin", "f.bin.notours.part", "g.bin.0123456789ab.part"}
	if !slices.Equal(names, want) {
		t.Errorf("left %v, want %v", names, want)
	}
}
