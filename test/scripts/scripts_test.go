// Package scripts tests the scripts `make test` is made of: that every
// stage runs and every failure is reported even after an earlier one
// failed, and that two runs on one machine each get a PostgreSQL cluster
// of their own and stop only that one.
package scripts

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
)

const root = "../.."

// fakeGo writes a stand-in for the go command that records its arguments
// and, for `go test`, exits with status; `go list` names one package.
func fakeGo(t *testing.T, status int) (bin, calls string) {
	t.Helper()
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls")
	bin = filepath.Join(dir, "go")
	script := fmt.Sprintf(`#!/bin/sh
echo "$*" >> %q
case $1 in
list) echo github.com/stowage/stowage/internal/errs; echo github.com/stowage/stowage/test/readme ;;
test) exit %d ;;
esac
`, calls, status)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, calls
}

func runTestScript(t *testing.T, status int) (out, calls string, err error) {
	t.Helper()
	bin, callsPath := fakeGo(t, status)
	cmd := exec.Command(filepath.Join(root, "scripts", "test.sh"), "test")
	cmd.Env = append(os.Environ(), "GO="+bin, "TEST_PG_DSN=postgres://unused", "FUZZTIME=1s 1s", "TMPDIR="+t.TempDir(),
		"RACEFLAGS=-race", "TESTARGS=-race -count=1")
	b, err := cmd.CombinedOutput()
	c, _ := os.ReadFile(callsPath)
	return string(b), string(c), err
}

// TestMakeTestRunsEveryStage: when the package tests fail, the suites and
// every fuzz target still run; the end names each failed stage, prints the
// wall time and exits non-zero.
func TestMakeTestRunsEveryStage(t *testing.T) {
	out, calls, err := runTestScript(t, 1)
	if err == nil {
		t.Fatalf("scripts/test.sh passed with every go test failing:\n%s", out)
	}
	for _, want := range []string{"test -race -count=1 github.com/stowage/stowage/internal/errs", "-race ./test/...", "-fuzz=^FuzzVerify$"} {
		if !strings.Contains(calls, want) {
			t.Errorf("no go call with %q after the packages failed; calls:\n%s", want, calls)
		}
	}
	for _, call := range strings.Split(calls, "\n") {
		if strings.Contains(call, "internal/errs") && strings.Contains(call, "test/readme") {
			t.Errorf("a suite under test/ ran with the packages: %s", call)
		}
	}
	// The Ceph stage fails too where Ceph is installed (its go is the
	// failing stand-in) and skips itself where it is not.
	if !regexp.MustCompile(`FAILED: packages (ceph )?suites fuzz`).MatchString(out) {
		t.Errorf("output does not name the failed stages:\n%s", out)
	}
	for _, want := range []string{"wall time", "fuzz: FAILED: FuzzVerify in ./internal/s3/sigv4"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestMakeTestPasses: the same stages with every go test passing end in
// success, so the test above fails for the right reason.
func TestMakeTestPasses(t *testing.T) {
	out, _, err := runTestScript(t, 0)
	if err != nil || !strings.Contains(out, "all stages passed") || !strings.Contains(out, "wall time") {
		t.Fatalf("scripts/test.sh with every go test passing: %v\n%s", err, out)
	}
}

// TestPostgresPerRun: two clusters started for two runs live in their own
// directories on different ports; stopping one leaves the other serving.
func TestPostgresPerRun(t *testing.T) {
	script := filepath.Join(root, "scripts", "test-postgres.sh")
	start := func() (dir, dsn string) {
		// Directly under TMPDIR, not t.TempDir(): the postgres user must
		// be able to reach it, and t.TempDir()'s parent is private.
		dir, err := os.MkdirTemp("", "stowage-test-pg-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			exec.Command(script, "stop", dir).Run()
			os.RemoveAll(dir)
		})
		out, err := exec.Command(script, "start", dir).Output()
		if err != nil {
			t.Fatalf("start in %s: %v", dir, err)
		}
		return dir, strings.TrimSpace(string(out))
	}
	ping := func(dsn string) error {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return db.PingContext(ctx)
	}
	dirA, dsnA := start()
	_, dsnB := start()
	if dsnA == dsnB {
		t.Fatalf("two runs got the same PostgreSQL: %s", dsnA)
	}
	for _, dsn := range []string{dsnA, dsnB} {
		if err := ping(dsn); err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
	}
	if out, err := exec.Command(script, "stop", dirA).CombinedOutput(); err != nil {
		t.Fatalf("stop: %v %s", err, out)
	}
	if err := ping(dsnA); err == nil {
		t.Errorf("%s still answers after its stop", dsnA)
	}
	if err := ping(dsnB); err != nil {
		t.Errorf("stopping one run's cluster stopped the other's: %v", err)
	}
	if out, err := exec.Command(script, "stop").CombinedOutput(); err == nil {
		t.Errorf("stop without a directory succeeded: %s", out)
	}
}
