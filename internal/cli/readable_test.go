package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

// TestCountsReadAsPeopleSayThem: on a server of its own, where the counts
// are known, one of a thing is singular ("1 bucket", "1 file"), any other
// number plural.
func TestCountsReadAsPeopleSayThem(t *testing.T) {
	e := testenv.Start(t)
	u := newUser(t, e)
	u.must("bucket", "create", "solo")
	src := filepath.Join(t.TempDir(), "hello.txt")
	if err := os.WriteFile(src, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := u.must("cp", src, "s3://solo/hello.txt"); !strings.Contains(out, "done: 1 file, 5 B in ") {
		t.Errorf("cp printed %q", out)
	}
	out := u.must("admin", "pools")
	for _, want := range []string{" 0 volumes, 0 chunks of 64 KiB\n", " 1 bucket, 1 object ("} {
		if !strings.Contains(out, want) {
			t.Errorf("admin pools lacks %q:\n%s", want, out)
		}
	}
}
