package nbd_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the protocol and the engine apart: nbd talks to
// storage only through its Export and Resolver interfaces, and blockstore
// knows nothing of NBD, so a Ceph backend or another protocol can replace
// either side.
func TestDependencies(t *testing.T) {
	for pkg, forbidden := range map[string]string{
		"github.com/stowage/stowage/internal/nbd":        "github.com/stowage/stowage/internal/blockstore",
		"github.com/stowage/stowage/internal/blockstore": "github.com/stowage/stowage/internal/nbd",
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == forbidden {
				t.Errorf("%s imports %s", pkg, forbidden)
			}
		}
	}
}
