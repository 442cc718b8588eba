package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

// TestServerDownSaysSo: with the server gone, a command says which
// endpoint does not answer and how to check it, instead of a dial error;
// and cp, whose cached S3 key skips the API, reports its own failure to
// reach S3, not the failure of the key repair it attempts after it.
func TestServerDownSaysSo(t *testing.T) {
	e := testenv.Start(t)
	u := newUser(t, e)
	u.must("bucket", "create", "down")
	u.must("ls", "s3://down") // caches the project's S3 key
	project := strings.TrimSpace(u.must("project", "ls", "-q"))
	src := filepath.Join(t.TempDir(), "f.txt")
	if err := os.WriteFile(src, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.Stop()

	api := "http://" + e.Addrs.API
	out, errOut, code := u.run("volume", "ls")
	if code != 1 || !strings.Contains(errOut, "stowage: cannot reach "+api+" (connect: connection refused): is the server running?") ||
		!strings.Contains(errOut, "curl "+api+"/healthz") {
		t.Errorf("volume ls with the server down: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = u.run("cp", src, "s3://down/f.txt", "--project", project)
	if code != 1 || !strings.Contains(errOut, "upload s3://down/f.txt: cannot reach S3 at "+e.Addrs.S3) || strings.Contains(errOut, "credentials") {
		t.Errorf("cp with the server down: exit %d\n%s%s", code, out, errOut)
	}
}
