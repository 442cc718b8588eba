package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/server"
)

// Version and Commit are stamped at build time, e.g.
//
//	go build -ldflags "-X github.com/stowage/stowage/internal/cli.Version=v0.4.0 -X github.com/stowage/stowage/internal/cli.Commit=$(git rev-parse --short HEAD)" ./cmd/stowage
//
// They are variables only because the linker can set nothing else; no
// code assigns them. A build that does not stamp them falls back to what
// the Go toolchain recorded (see buildVersion).
var (
	Version string
	Commit  string
)

// versionInfo is what `stowage version --json` prints.
type versionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// Schema is the database schema version this binary migrates to.
	Schema int64  `json:"schema_version"`
	Go     string `json:"go"`
}

// buildVersion completes the stamped version and commit from the build
// information: the module's version when it was built as a dependency
// (go install …@v1.2.3), and the VCS revision go build records in a
// checkout ("-dirty" when it had uncommitted changes).
func buildVersion(version, commit string, info *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: version, Commit: commit}
	if info != nil {
		v.Go = info.GoVersion
		if v.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v.Version = info.Main.Version
		}
		var rev string
		var dirty bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if v.Commit == "" && rev != "" {
			v.Commit = rev[:min(len(rev), 12)]
			if dirty {
				v.Commit += "-dirty"
			}
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	return v
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version, the commit it was built from and the database schema version",
		Example: "  stowage version\n  stowage version --json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, _ := debug.ReadBuildInfo()
			v := buildVersion(Version, Commit, info)
			v.Schema = server.SchemaVersion()
			if a.json {
				return a.out().printJSON(v)
			}
			built := ""
			if v.Go != "" {
				built = ", " + v.Go
			}
			_, err := fmt.Fprintf(a.stdout, "stowage %s (commit %s%s, schema version %d)\n", v.Version, v.Commit, built, v.Schema)
			return err
		},
	}
}
