// Package readme runs the README's shell blocks, in order, in one bash, as
// a new user pastes them: the real binary on the PATH, a fresh working
// directory and HOME, and a server started by the README's own
// `stowage serve &`. Only what would clash with other runs on the machine
// is rewritten: the server listens on free ports (STOWAGE_*_LISTEN=…:0),
// and the README's fixed addresses become the bound ones, read from
// addresses.json after each start. `make …` lines are skipped: the test
// built the binary that `make install` would have put on the PATH.
package readme

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

// The README's fixed addresses (the embedded defaults) and the variable
// the bound one is read into.
var addresses = []struct{ fixed, field string }{
	{"127.0.0.1:8080", "api"},
	{"127.0.0.1:9000", "s3"},
	{"127.0.0.1:10809", "nbd"},
	{"127.0.0.1:2049", "nfs"},
}

// serveLine starts a server in the background, as the README does.
var serveLine = regexp.MustCompile(`^stowage serve( .*)? &(\s*#.*)?$`)

// problem is how an error of the native API (or another face's 4xx/5xx
// JSON) shows in output; curl -s exits 0 on those, so the output is checked.
var problem = regexp.MustCompile(`"status": ?[45][0-9][0-9]|"error_type"`)

// shBlocks returns the lines of every ```sh block, in order.
func shBlocks(readme []byte) []string {
	var lines []string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(readme))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case !in && strings.TrimSpace(l) == "```sh":
			in = true
		case in && strings.TrimSpace(l) == "```":
			in = false
		case in:
			lines = append(lines, l)
		}
	}
	return lines
}

// script turns the README's lines into the bash script the test runs.
func script(lines []string) (string, int) {
	var b strings.Builder
	b.WriteString(`set -eEo pipefail
set -x
# readme_started waits for the server just started to write its bound
# addresses, then points the README's fixed addresses at them.
readme_started() {
  { set +x; } 2>/dev/null
  for _ in $(seq 1200); do
    [ -s stowage-data/addresses.json ] && break
    kill -0 $! 2>/dev/null || { echo "the server exited" >&2; return 1; }
    sleep 0.05
  done
`)
	for _, a := range addresses {
		fmt.Fprintf(&b, "  README_%s=$(jq -r .%s stowage-data/addresses.json)\n", strings.ToUpper(a.field), a.field)
	}
	b.WriteString("  set -x\n}\n")
	served := 0
	for _, l := range lines {
		cmd := strings.TrimSpace(l)
		if strings.HasPrefix(cmd, "make ") || cmd == "make" {
			continue
		}
		for _, a := range addresses {
			l = strings.ReplaceAll(l, a.fixed, "${README_"+strings.ToUpper(a.field)+"}")
		}
		if serveLine.MatchString(cmd) {
			served++
			b.WriteString("rm -f stowage-data/addresses.json\n" + l + "\nreadme_started\n")
			continue
		}
		b.WriteString(l + "\n")
	}
	return b.String(), served
}

func TestREADME(t *testing.T) {
	for _, tool := range []string{"bash", "jq", "curl", "qemu-img", "aws"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (scripts/install-test-deps.sh installs it): %v", tool, err)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := shBlocks(readme)
	sh, served := script(lines)
	if len(lines) < 20 || served < 2 {
		t.Fatalf("found %d lines in ```sh blocks and %d server starts; does the README still start a server, stop it and start again?", len(lines), served)
	}
	bin := testenv.Build(t)
	work, home := t.TempDir(), t.TempDir()
	path := filepath.Join(home, "script.sh")
	if err := os.WriteFile(path, []byte(sh), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", path)
	cmd.Dir = work
	env := []string{
		"PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH"), "HOME=" + home, "LANG=C.UTF-8",
		"STOWAGE_LISTEN=127.0.0.1:0", "STOWAGE_S3_LISTEN=127.0.0.1:0", "STOWAGE_NBD_LISTEN=127.0.0.1:0", "STOWAGE_NFS_LISTEN=127.0.0.1:0",
	}
	for _, k := range []string{"TMPDIR", "GOCACHE", "GOPATH", "GOMODCACHE"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	cmd.Env = env
	// The servers the README starts in the background are in the
	// script's process group; whatever it leaves running ends with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Output goes to a file, not a pipe: a server left running would
	// hold a pipe open after bash exits.
	logPath := filepath.Join(home, "output")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	err = cmd.Wait()
	out, rerr := os.ReadFile(logPath)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatalf("the README's commands failed: %v\n%s", err, out)
	}
	if m := problem.Find(out); m != nil {
		t.Fatalf("a README command answered an error (%s):\n%s", m, out)
	}
	t.Logf("%s", out)
	fmt.Printf("readme: %d lines of the README's shell blocks ran against a fresh server, stopped it and started again from nothing\n", len(lines))
}
