package cli

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/server"
)

// TestVersionFallsBackToBuildInfo: an unstamped build reports the VCS
// revision go build recorded, a stamp wins over it, and a build with
// neither still says what it is.
func TestVersionFallsBackToBuildInfo(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0a8ecbbffc34de16275294ac93fe22402a267fbb"}, {Key: "vcs.modified", Value: "true"}}}
	for _, c := range []struct {
		version, commit string
		info            *debug.BuildInfo
		want            versionInfo
	}{
		{"", "", info, versionInfo{Version: "dev", Commit: "0a8ecbbffc34-dirty", Go: "go1.26.8"}},
		{"v0.4.0", "abc1234", info, versionInfo{Version: "v0.4.0", Commit: "abc1234", Go: "go1.26.8"}},
		{"", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.1"}}, versionInfo{Version: "v0.3.1", Commit: "unknown"}},
		{"", "", nil, versionInfo{Version: "dev", Commit: "unknown"}},
	} {
		if got := buildVersion(c.version, c.commit, c.info); got != c.want {
			t.Errorf("buildVersion(%q, %q, …) = %+v, want %+v", c.version, c.commit, got, c.want)
		}
	}
}

// TestVersionStamped builds the binary as the Makefile does, stamping the
// version and commit with -ldflags -X, and runs `stowage version`.
func TestVersionStamped(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "stowage")
	const pkg = "github.com/stowage/stowage/internal/cli"
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X "+pkg+".Version=v9.8.7 -X "+pkg+".Commit=feedbee", "github.com/stowage/stowage/cmd/stowage")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); !strings.HasPrefix(got, "stowage v9.8.7 (commit feedbee, go1.") ||
		!strings.HasSuffix(got, fmt.Sprintf(", schema version %d)\n", server.SchemaVersion())) {
		t.Errorf("stowage version printed %q", got)
	}
}
