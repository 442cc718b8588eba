package cluster

import (
	"os/exec"
	"testing"
)

// TestSampleHAProxyConfig checks that the sample configuration the
// operations guide points to is one HAProxy accepts.
func TestSampleHAProxyConfig(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Fatal("haproxy is not installed (apt-get install haproxy; make test-deps installs it)")
	}
	if out, err := exec.Command("haproxy", "-c", "-f", "../../docs/haproxy.cfg").CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c docs/haproxy.cfg: %v\n%s", err, out)
	}
}
