// Package tls_test checks TLS on the HTTP listeners with real clients: the
// CLI with --ca-cert, aws-cli with --ca-bundle, boto3 with verify=CA, curl
// on a presigned URL and Go's HTTP/2 client; and that a new certificate
// is served after the files change or SIGHUP while open connections keep
// working.
package tls_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/cli"
	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

// stowage runs the command line in-process with its own HOME.
func stowage(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	var o, e bytes.Buffer
	if code := cli.Main(args, strings.NewReader(""), &o, &e, func(k string) string { return env[k] }); code != 0 {
		t.Fatalf("stowage %s: exit %d\n%s%s", strings.Join(args, " "), code, o.String(), e.String())
	}
	return o.String()
}

func TestTLSClients(t *testing.T) {
	ca := testenv.NewCA(t)
	e := testenv.Start(t, testenv.TLS(t, ca))

	var addrs map[string]any
	b, err := os.ReadFile(filepath.Join(e.DataDir, "addresses.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &addrs); err != nil || addrs["tls"] != true || addrs["api"] != e.Addrs.API {
		t.Fatalf("addresses.json %s: want tls true and host:port values", b)
	}

	// Go's client negotiates HTTP/2 and TLS 1.3 on both listeners; a
	// client that stops at TLS 1.1 is refused, and so is plain HTTP.
	hc := testenv.TLSClient(ca)
	for addr, want := range map[string]int{e.Addrs.API: 200, e.Addrs.S3: 404} {
		resp, err := hc.Get("https://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("GET https://%s: %v", addr, err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET https://%s/: %d, want %d", addr, resp.StatusCode, want)
		}
		if resp.ProtoMajor != 2 || resp.TLS.Version != tls.VersionTLS13 {
			t.Errorf("%s: %s over TLS %x, want HTTP/2 over TLS 1.3", addr, resp.Proto, resp.TLS.Version)
		}
		old := &tls.Config{RootCAs: ca.Pool, MaxVersion: tls.VersionTLS11}
		if c, err := tls.Dial("tcp", addr, old); err == nil {
			c.Close()
			t.Errorf("%s accepted TLS 1.1", addr)
		}
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("plain HTTP to %s answered %d", addr, resp.StatusCode)
			}
		}
	}

	// The CLI trusts the CA given by flag, remembers it in the profile,
	// and reaches S3 at the https address the server hands out.
	home := t.TempDir()
	env := map[string]string{"HOME": home}
	endpoint := "https://" + e.Addrs.API
	stowage(t, env, "login", "--endpoint", endpoint, "--token", e.AdminToken, "--ca-cert", ca.Path)
	stowage(t, env, "bucket", "create", "secure")
	src := filepath.Join(t.TempDir(), "hello.txt")
	if err := os.WriteFile(src, []byte("over tls\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stowage(t, env, "cp", src, "s3://secure/hello.txt")
	url := strings.TrimSpace(stowage(t, env, "presign", "s3://secure/hello.txt"))
	if !strings.HasPrefix(url, "https://"+e.Addrs.S3+"/") {
		t.Fatalf("presigned URL %q: want https://%s/…", url, e.Addrs.S3)
	}
	if out, err := exec.Command("curl", "-sSf", "--cacert", ca.Path, url).CombinedOutput(); err != nil || string(out) != "over tls\n" {
		t.Fatalf("curl presigned URL: %v %q", err, out)
	}
	// Without the CA the CLI refuses the certificate.
	var o, eb bytes.Buffer
	if code := cli.Main([]string{"--endpoint", endpoint, "whoami"}, strings.NewReader(""), &o, &eb,
		func(k string) string { return map[string]string{"HOME": t.TempDir(), "STOWAGE_TOKEN": e.AdminToken}[k] }); code == 0 {
		t.Fatal("the CLI trusted a certificate of an unknown CA")
	}

	var cfg struct {
		Profiles map[string]struct {
			CACert string `json:"ca_cert"`
		} `json:"profiles"`
		S3Keys map[string]struct {
			AccessKeyID     string `json:"access_key_id"`
			SecretAccessKey string `json:"secret_access_key"`
			Endpoint        string `json:"endpoint_url"`
			Region          string `json:"region"`
		} `json:"s3_keys"`
	}
	b, err = os.ReadFile(filepath.Join(home, ".config", "stowage", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.Profiles["default"].CACert != ca.Path || len(cfg.S3Keys) != 1 {
		t.Fatalf("profile %s: want ca_cert %s and one S3 key", b, ca.Path)
	}
	for _, k := range cfg.S3Keys {
		if k.Endpoint != "https://"+e.Addrs.S3 {
			t.Fatalf("S3 endpoint handed out: %s", k.Endpoint)
		}
		awsEnv := append(os.Environ(), "HOME="+t.TempDir(), "AWS_ACCESS_KEY_ID="+k.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+k.SecretAccessKey,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		cmd := exec.Command("/usr/bin/aws", "--endpoint-url", k.Endpoint, "--region", k.Region, "--ca-bundle", ca.Path, "s3", "ls", "s3://secure/")
		cmd.Env = awsEnv
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "hello.txt") {
			t.Fatalf("aws s3 ls --ca-bundle: %v %s", err, out)
		}
		script := `import boto3, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id=sys.argv[3],
    aws_secret_access_key=sys.argv[4], verify=sys.argv[5])
s3.put_object(Bucket="secure", Key="boto.txt", Body=b"boto over tls")
sys.stdout.write(s3.get_object(Bucket="secure", Key="boto.txt")["Body"].read().decode())`
		cmd = exec.Command("/usr/bin/python3", "-c", script, k.Endpoint, k.Region, k.AccessKeyID, k.SecretAccessKey, ca.Path)
		cmd.Env = awsEnv
		if out, err := cmd.CombinedOutput(); err != nil || string(out) != "boto over tls" {
			t.Fatalf("boto3 verify=CA: %v %s", err, out)
		}
	}
}

// serial is the serial number of the certificate a new handshake gets,
// verified for name; 0 when verification fails.
func serial(t *testing.T, ca *testenv.CA, addr, name string) int64 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: name})
	if err != nil {
		t.Logf("dial %s as %s: %v", addr, name, err)
		return 0
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// keepAlive is one HTTP/1.1 connection kept open across requests (to
// /healthz, which S3 answers 404: any answer shows the
// connection is alive).
type keepAlive struct {
	c *tls.Conn
	r *bufio.Reader
}

func dialKeepAlive(t *testing.T, ca *testenv.CA, addr string) *keepAlive {
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAlive{c: c, r: bufio.NewReader(c)}
}

func (k *keepAlive) get(t *testing.T) {
	t.Helper()
	if _, err := fmt.Fprintf(k.c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatalf("write on the open connection: %v", err)
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		t.Fatalf("read on the open connection: %v", err)
	}
	if resp.StatusCode != 200 && resp.StatusCode != 404 {
		t.Fatalf("open connection: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

// waitSerial polls new handshakes until they get the certificate want,
// calling poke before each try.
func waitSerial(t *testing.T, ca *testenv.CA, addr string, want int64, poke func()) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); serial(t, ca, addr, "127.0.0.1") != want; {
		if time.Now().After(deadline) {
			t.Fatalf("%s still serves the old certificate", addr)
		}
		poke()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTLSReload(t *testing.T) {
	ca := testenv.NewCA(t)
	e := testenv.Start(t, testenv.TLS(t, ca))
	for _, addr := range []string{e.Addrs.API, e.Addrs.S3} {
		if got := serial(t, ca, addr, "127.0.0.1"); got != 1 {
			t.Fatalf("serial %d, want 1", got)
		}
	}
	open := []*keepAlive{dialKeepAlive(t, ca, e.Addrs.API), dialKeepAlive(t, ca, e.Addrs.S3)}
	for _, k := range open {
		k.get(t)
	}
	// A renewal replaces the files; new handshakes get the new
	// certificate and the connections opened before keep serving.
	ca.Issue(t, e.Config.TLSCert, e.Config.TLSKey, 2, "127.0.0.1", "localhost")
	for _, addr := range []string{e.Addrs.API, e.Addrs.S3} {
		waitSerial(t, ca, addr, 2, func() {})
	}
	for _, k := range open {
		k.get(t)
	}
}

func TestTLSReloadOnSIGHUP(t *testing.T) {
	ca := testenv.NewCA(t)
	e := testenv.Start(t, testenv.TLS(t, ca), func(c *config.Config) { c.TLSPollInterval = time.Hour })
	open := dialKeepAlive(t, ca, e.Addrs.API)
	open.get(t)
	// The test's own handler keeps a SIGHUP sent before the server
	// listens for it from ending the test binary.
	hup := make(chan os.Signal, 16)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ca.Issue(t, e.Config.TLSCert, e.Config.TLSKey, 3, "127.0.0.1", "localhost")
	if got := serial(t, ca, e.Addrs.API, "127.0.0.1"); got != 1 {
		t.Fatalf("serial %d before SIGHUP with an hourly check, want 1", got)
	}
	waitSerial(t, ca, e.Addrs.API, 3, func() { syscall.Kill(os.Getpid(), syscall.SIGHUP) })
	open.get(t)
}

func TestTLSCertificateDirectory(t *testing.T) {
	ca := testenv.NewCA(t)
	dir := t.TempDir()
	ca.Issue(t, filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key"), 10, "a.example.test", "127.0.0.1")
	ca.Issue(t, filepath.Join(dir, "b.crt"), filepath.Join(dir, "b.key"), 20, "b.example.test")
	e := testenv.Start(t, func(c *config.Config) { c.TLSCert, c.TLSPollInterval = dir, 20*time.Millisecond })
	for name, want := range map[string]int64{"a.example.test": 10, "b.example.test": 20, "127.0.0.1": 10} {
		if got := serial(t, ca, e.Addrs.S3, name); got != want {
			t.Errorf("server name %s got serial %d, want %d", name, got, want)
		}
	}
	// A certificate added to the directory is served without a restart.
	ca.Issue(t, filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key"), 30, "c.example.test")
	for deadline := time.Now().Add(10 * time.Second); serial(t, ca, e.Addrs.S3, "c.example.test") != 30; {
		if time.Now().After(deadline) {
			t.Fatal("the added certificate is not served")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
