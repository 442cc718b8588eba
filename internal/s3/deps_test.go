package s3_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the data plane's layering: the handler reaches
// metadata and bytes only through the interfaces it declares, the blob
// store knows nothing of S3, and SigV4 is pure standard library.
func TestDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	deps := func(pkg string) []string {
		out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	const mod = "github.com/stowage/stowage/"
	forbid := map[string][]string{
		mod + "internal/s3":          {mod + "internal/store/", mod + "internal/server", mod + "internal/api/"},
		mod + "internal/objectstore": {mod + "internal/s3", mod + "internal/store/", mod + "internal/core/"},
	}
	for pkg, bad := range forbid {
		for _, d := range deps(pkg) {
			for _, b := range bad {
				if strings.HasPrefix(d, b) {
					t.Errorf("%s imports %s", pkg, d)
				}
			}
		}
	}
	for _, d := range deps(mod + "internal/s3/sigv4") {
		if d != mod+"internal/checksum" && d != mod+"internal/s3/sigv4" {
			t.Errorf("sigv4 depends on %s", d)
		}
	}
}
