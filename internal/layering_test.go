// Package internal_test enforces the inward direction of dependencies from
// docs/house-style.md: edges (API dialects, S3, NBD, CLI) reach persistence only
// through the core; the core knows neither HTTP nor the SQL store.
package internal_test

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/stowage/stowage/"

// forbidden maps a package prefix to dependencies its packages must not have.
var forbidden = map[string][]string{
	mod + "internal/errs":        {mod},
	mod + "internal/core/":       {mod + "internal/store/", mod + "internal/httpapi", mod + "internal/api/", mod + "internal/s3", mod + "internal/nbd", mod + "internal/cli", mod + "internal/server", "net/http", mod + "internal/blockstore", mod + "internal/objectstore"},
	mod + "internal/jobs":        {mod + "internal/store/", mod + "internal/httpapi", mod + "internal/api/", mod + "internal/server", "net/http"},
	mod + "internal/api/":        {mod + "internal/store/", mod + "internal/server"},
	mod + "internal/console":     {mod + "internal/store/", mod + "internal/server", mod + "internal/api/", mod + "internal/s3"},
	mod + "internal/httpapi":     {mod + "internal/store/", mod + "internal/server"},
	mod + "internal/s3":          {mod + "internal/store/", mod + "internal/server", mod + "internal/api/"},
	mod + "internal/nbd":         {mod + "internal/store/", mod + "internal/server", mod + "internal/api/", "net/http"},
	mod + "internal/blockstore":  {mod + "internal/core/", mod + "internal/store/", mod + "internal/api/", mod + "internal/server", "net/http"},
	mod + "internal/objectstore": {mod + "internal/core/", mod + "internal/store/", mod + "internal/api/", mod + "internal/server", "net/http"},
}

// forbiddenImports are checked on direct imports only: the CLI reaches the
// store through server (for `serve`), never by itself.
var forbiddenImports = map[string][]string{
	mod + "internal/cli": {mod + "internal/store/"},
	mod + "cmd/":         {mod + "internal/store/", mod + "internal/core/", mod + "internal/server"},
}

func TestDependenciesPointInward(t *testing.T) {
	checked := check(t, ".Deps", forbidden) + check(t, ".Imports", forbiddenImports)
	if checked < 5 {
		t.Fatalf("only %d packages checked; is the module layout what this test expects?", checked)
	}
}

// check lists each package with the given dependency field and reports
// any that match a rule; it returns how many package/rule pairs it checked.
func check(t *testing.T, field string, rules map[string][]string) int {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join "+field+` " "}}`, "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, deps := fields[0], fields[1:]
		for prefix, bans := range rules {
			if !strings.HasPrefix(pkg, prefix) {
				continue
			}
			checked++
			for _, d := range deps {
				for _, ban := range bans {
					if strings.HasPrefix(d, ban) && !strings.HasPrefix(d, prefix) {
						t.Errorf("%s depends on %s", pkg, d)
					}
				}
			}
		}
	}
	return checked
}
