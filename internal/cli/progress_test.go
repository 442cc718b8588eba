package cli_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

// TestProgressBarOnTerminal runs the real binary under tmux, where standard
// error is a terminal, and reads the screen: a bar with bytes, rate and time
// left while the upload runs; "completing…" while the server assembles the
// parts (the proxy holds that request until the screen says so); at the
// end the bar gives way to the summary, so that one rate is on the screen.
// With standard error piped, nothing but the summary is printed.
func TestProgressBarOnTerminal(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed (scripts/install-test-deps.sh installs it)")
	}
	dir := t.TempDir()
	bin := testenv.Build(t)
	e := testenv.Start(t)
	u := newUser(t, e)
	u.must("bucket", "create", "bar")
	u.must("ls", "s3://bar")
	// Bodies read at 24 MiB/s make the 48 MiB upload last about two
	// seconds, long enough to see the bar move.
	p := newS3Proxy(t, e)
	p.slow.Store(24 << 20)
	hold := make(chan struct{})
	p.hold.Store(&hold)
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release)
	u.viaProxy(p)
	src := filepath.Join(dir, "blob.bin")
	writeRandom(t, src, 48<<20)

	env := []string{"TERM=xterm-256color", "PATH=" + os.Getenv("PATH")}
	for k, v := range u.env {
		env = append(env, k+"="+v)
	}
	socket := filepath.Join(dir, "tmux.sock")
	tm := func(args ...string) string {
		cmd := exec.Command(tmux, append([]string{"-S", socket}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Cleanup(func() { exec.Command(tmux, "-S", socket, "kill-server").Run() })
	tm("new-session", "-d", "-s", "cp", "-x", "150", "-y", "20",
		bin+" cp "+src+" s3://bar/blob.bin --parallel 2; echo exit=$?; sleep 600")

	moving := regexp.MustCompile(`upload blob\.bin +[0-9]+% \|[█ ]+\| \([0-9.]+/48 MiB, [0-9.]+ [KM]iB/s\) \[[0-9]+s:[0-9]+s\]`)
	completing := regexp.MustCompile(`upload blob\.bin: completing… +99% \|█+ *\| \(48/48 MiB`)
	var sawMoving, sawCompleting bool
	var screen string
	for deadline := time.Now().Add(time.Minute); ; {
		screen = tm("capture-pane", "-p", "-t", "cp")
		sawMoving = sawMoving || moving.MatchString(screen)
		if completing.MatchString(screen) {
			sawCompleting = true
			release()
		}
		if strings.Contains(screen, "exit=") || time.Now().After(deadline) {
			break
		}
		// Polling the screen: tmux has no way to wait for a change.
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the last screen:\n%s", screen)
	if !strings.Contains(screen, "exit=0") {
		t.Fatalf("cp did not finish well; the screen:\n%s", screen)
	}
	if !sawMoving {
		t.Errorf("never saw the bar move with bytes, rate and time left; the last screen:\n%s", screen)
	}
	if !sawCompleting {
		t.Errorf("never saw the bar say it was completing the upload; the last screen:\n%s", screen)
	}
	for _, want := range []string{
		`(?m)^upload: \S+blob\.bin → s3://bar/blob\.bin \(48 MiB, 6 parts\)$`,
		`(?m)^done: 1 file, 48 MiB in [0-9.]+m?s \([0-9.]+ [KM]iB/s\)$`,
	} {
		if !regexp.MustCompile(want).MatchString(screen) {
			t.Errorf("screen lacks %s:\n%s", want, screen)
		}
	}
	if rates := regexp.MustCompile(`iB/s`).FindAllString(screen, -1); len(rates) != 1 || strings.Contains(screen, "%") {
		t.Errorf("the last screen shows %d rates (or a bar), want the summary's alone:\n%s", len(rates), screen)
	}

	// Piped, standard error stays empty: no bar, no carriage returns.
	p.slow.Store(0)
	cmd := exec.Command(bin, "cp", src, "s3://bar/piped.bin")
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("piped cp: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("piped standard error holds %q", stderr.String())
	}
	if !strings.Contains(stdout.String(), "done: 1 file, 48 MiB") {
		t.Errorf("piped standard output: %q", stdout.String())
	}
}
