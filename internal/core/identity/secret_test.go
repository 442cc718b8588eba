package identity

import (
	"strings"
	"testing"
)

// TestPasswordCost: a hash records the cost it was made with and verifies
// under it whatever the service's cost is now, so lowering or raising the
// cost never locks anyone out; the zero cost is OWASP's minimum.
func TestPasswordCost(t *testing.T) {
	cheap := hashPassword("correct horse", PasswordCost{Time: 1, MemoryKiB: 64})
	if !strings.HasPrefix(cheap, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("cheap hash %q does not record its cost", cheap)
	}
	def := hashPassword("correct horse", PasswordCost{}.orDefault())
	if !strings.HasPrefix(def, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("default hash %q, want OWASP's minimum (m=19456, t=2)", def)
	}
	for _, h := range []string{cheap, def} {
		if !checkPassword(h, "correct horse") {
			t.Errorf("%q does not verify its own password", h)
		}
		if checkPassword(h, "correct horse!") {
			t.Errorf("%q verifies a wrong password", h)
		}
	}
}
