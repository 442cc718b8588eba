package deploy_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

// dpkgLock serialises the package tests of concurrent runs on one machine:
// the package installs to fixed paths and dpkg refuses a second caller.
const dpkgLock = "/tmp/stowage-deb-test.lock"

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func installed() bool {
	out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "stowage").Output()
	return strings.Contains(string(out), "ok installed")
}

// unitSettings reads Key=Value lines of a systemd unit (the last wins).
func unitSettings(t *testing.T, path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			kv[k] = v
		}
	}
	return kv
}

func owner(t *testing.T, path string) string {
	return strings.TrimSpace(sh(t, "stat", "-c", "%U:%G %a", path))
}

// TestDebianPackage builds the package as `make deb` does, installs it
// with dpkg -i, starts the binary as the unit would (its user, command
// line, umask and file limit; there is no systemd here), then removes and
// purges it and checks nothing is left.
func TestDebianPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("installing a package needs root (the test machine runs the suite as root)")
	}
	lock, err := os.OpenFile(dpkgLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if installed() {
		t.Fatal("a stowage package is already installed on this machine; the test would replace it")
	}

	bin := testenv.Build(t)
	version := strings.TrimSpace(sh(t, "git", "describe", "--tags", "--always", "--dirty"))
	deb := strings.TrimSpace(sh(t, "../../scripts/build-deb.sh", bin, version, t.TempDir()))
	contents := sh(t, "dpkg-deb", "--contents", deb)
	for _, f := range []string{"./usr/bin/stowage", "./lib/systemd/system/stowage.service", "./etc/stowage/stowage.toml",
		"./usr/share/doc/stowage/monitoring/alerts.yml", "./usr/share/doc/stowage/monitoring/grafana-dashboard.json"} {
		if !strings.Contains(contents, f) {
			t.Errorf("the package lacks %s:\n%s", f, contents)
		}
	}
	if c := sh(t, "dpkg-deb", "--field", deb, "Version", "Depends"); !strings.Contains(c, "Depends: adduser") {
		t.Errorf("control: %s", c)
	}

	t.Cleanup(func() { exec.Command("dpkg", "--purge", "stowage").Run() })
	sh(t, "dpkg", "-i", deb)
	if !installed() {
		t.Fatal("dpkg -i did not install the package")
	}
	pw := strings.Split(strings.TrimSpace(sh(t, "getent", "passwd", "stowage")), ":")
	if len(pw) != 7 || pw[0] != "stowage" || pw[5] != "/var/lib/stowage" || !strings.HasSuffix(pw[6], "nologin") {
		t.Errorf("the stowage user: %v", pw)
	}
	for path, want := range map[string]string{"/var/lib/stowage": "stowage:stowage 700", "/etc/stowage": "root:stowage 750",
		"/etc/stowage/stowage.toml": "root:stowage 640", "/usr/bin/stowage": "root:root 755"} {
		if got := owner(t, path); got != want {
			t.Errorf("%s is %s, want %s", path, got, want)
		}
	}
	unit := unitSettings(t, "/lib/systemd/system/stowage.service")
	for k, want := range map[string]string{"User": "stowage", "Group": "stowage", "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/stowage",
		"NoNewPrivileges": "yes", "LimitNOFILE": "1048576", "UMask": "0077", "ExecStart": "/usr/bin/stowage serve --config /etc/stowage/stowage.toml",
		"ProtectHome": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": ""} {
		if got, ok := unit[k]; !ok || got != want {
			t.Errorf("unit %s=%q, want %q", k, got, want)
		}
	}

	// Start it as the unit would: its user and group, its file limit and
	// umask, its command line. The environment wins over the config file:
	// free ports here, where the file says 8080, 9000, 10809, 2049.
	// A container's hard limit may be below the unit's; systemd would
	// raise it, prlimit here cannot.
	nofile, err := strconv.ParseUint(unit["LimitNOFILE"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Max < nofile {
		t.Logf("LimitNOFILE=%d is above this machine's hard limit: starting with %d", nofile, rl.Max)
		nofile = rl.Max
	}
	argv := append([]string{"--nofile=" + strconv.FormatUint(nofile, 10), "setpriv", "--reuid=" + unit["User"], "--regid=" + unit["Group"], "--init-groups",
		"sh", "-c", "umask " + unit["UMask"] + " && exec \"$0\" \"$@\""}, strings.Fields(unit["ExecStart"])...)
	cmd := exec.Command("prlimit", argv...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "STOWAGE_LISTEN=127.0.0.1:0", "STOWAGE_S3_LISTEN=127.0.0.1:0", "STOWAGE_NBD_LISTEN=127.0.0.1:0",
		"STOWAGE_NFS_LISTEN=127.0.0.1:0"}
	logPath := filepath.Join(t.TempDir(), "stowage.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var addrs struct{ API string }
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile("/var/lib/stowage/addresses.json"); err == nil && json.Unmarshal(b, &addrs) == nil && addrs.API != "" {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("the installed node did not start:\n%s", b)
		}
	}
	resp, err := http.Get("http://" + addrs.API + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", err, resp)
	}
	resp.Body.Close()
	// systemctl reload sends SIGHUP: without TLS there is nothing to
	// reload, and the node keeps serving.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), "SIGHUP") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sign of the SIGHUP in the log:\n%s", b)
		}
	}
	if resp, err := http.Get("http://" + addrs.API + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz after SIGHUP: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	uid := strings.TrimSpace(sh(t, "id", "-u", "stowage"))
	if !strings.Contains(string(status), "\nUid:\t"+uid+"\t") {
		t.Errorf("the node does not run as stowage (uid %s):\n%s", uid, status)
	}
	for _, f := range []string{"admin-token", "master.key", "stowage.db"} {
		if got := owner(t, "/var/lib/stowage/"+f); got != "stowage:stowage 600" {
			t.Errorf("/var/lib/stowage/%s is %s, want stowage:stowage 600", f, got)
		}
	}
	if out := sh(t, "/usr/bin/stowage", "version"); !strings.Contains(out, "schema version") {
		t.Errorf("stowage version: %s", out)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("exit after SIGTERM: %v\n%s", err, b)
	}

	// remove keeps the config, the data and the user; purge deletes them.
	sh(t, "dpkg", "-r", "stowage")
	for _, gone := range []string{"/usr/bin/stowage", "/lib/systemd/system/stowage.service"} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("after dpkg -r, %s: %v", gone, err)
		}
	}
	for _, kept := range []string{"/etc/stowage/stowage.toml", "/var/lib/stowage/stowage.db"} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("dpkg -r removed %s: %v", kept, err)
		}
	}
	sh(t, "dpkg", "--purge", "stowage")
	for _, gone := range []string{"/etc/stowage", "/var/lib/stowage"} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("after dpkg --purge, %s: %v", gone, err)
		}
	}
	if err := exec.Command("getent", "passwd", "stowage").Run(); err == nil {
		t.Error("dpkg --purge left the stowage user")
	}
	if err := exec.Command("getent", "group", "stowage").Run(); err == nil {
		t.Error("dpkg --purge left the stowage group")
	}
	if out, err := exec.Command("dpkg-query", "-W", "stowage").CombinedOutput(); err == nil {
		t.Errorf("dpkg still knows the package: %s", out)
	}
}
