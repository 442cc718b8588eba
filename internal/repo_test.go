package internal_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// outside is a path into something next to the checkout rather than
	// in it: a sibling directory of docs or tools, a machine's layout.
	outside = regexp.MustCompile(`\.\./shared|\bshared/(docs|tools|seeds)|/wor[k]/`)
	// citedDoc is a document named bare in a comment ("see contract.md"),
	// which means one of this repository's; a path ("doc/proto.md")
	// names another project's.
	citedDoc = regexp.MustCompile(`(?:^|[^/\w.-])([a-z][a-z-]*\.md)\b`)
)

// TestRepoSelfContained: nothing in the repository points outside it, so a
// fresh clone is all a contributor needs. No file names a path next to the
// checkout; every document a comment cites by name is in docs/ (or at the
// top); the licence the README names is there in full.
func TestRepoSelfContained(t *testing.T) {
	root := ".."
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == ".git" || name == "bin" || name == "testdata" || name == "stowage-data" {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(path)
		if ext != ".go" && ext != ".sh" && ext != ".md" && d.Name() != "Makefile" && d.Name() != "run" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		for i, line := range bytes.Split(b, []byte("\n")) {
			if m := outside.Find(line); m != nil {
				t.Errorf("%s:%d points outside the repository (%s): %s", path, i+1, m, bytes.TrimSpace(line))
			}
			if ext != ".go" {
				continue
			}
			for _, m := range citedDoc.FindAllSubmatch(line, -1) {
				doc := string(m[1])
				if !exists(filepath.Join(root, "docs", doc)) && !exists(filepath.Join(root, doc)) {
					t.Errorf("%s:%d cites %s, which is neither in docs/ nor at the top of the repository", path, i+1, doc)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d files checked; is the repository layout what this test expects?", checked)
	}
	lic, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil || !bytes.Contains(lic, []byte("Apache License")) || !bytes.Contains(lic, []byte("END OF TERMS AND CONDITIONS")) {
		t.Errorf("LICENSE is not the full Apache License 2.0 (%v)", err)
	}
	for _, f := range []string{"README.md", "CONTRIBUTING.md", "docs/house-style.md"} {
		if !exists(filepath.Join(root, f)) {
			t.Errorf("%s is missing", f)
		}
	}
	if readme, _ := os.ReadFile(filepath.Join(root, "README.md")); !strings.Contains(string(readme), "Apache License 2.0") {
		t.Error("the README does not name the licence")
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
