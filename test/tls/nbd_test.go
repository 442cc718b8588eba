package tls_test

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

// tlsEnv starts a node with TLS and NBD STARTTLS set to mode, whose
// requests go through a client that trusts ca.
func tlsEnv(t *testing.T, ca *testenv.CA, mode string) *testenv.Env {
	e := testenv.Start(t, testenv.TLS(t, ca), func(c *config.Config) { c.NBDTLS = mode })
	e.Transport = testenv.TLSClient(ca).Transport
	return e
}

// clientCreds is a directory as qemu's tls-creds-x509 and libnbd's
// tls-certificates read it: the CA that signed the server's certificate.
func clientCreds(t *testing.T, ca *testenv.CA) string {
	dir := t.TempDir()
	b, err := os.ReadFile(ca.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca-cert.pem"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func mustTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := tool(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// qemuTLS is qemu's way to a TLS NBD export: an x509 credentials object
// and the export's address.
func qemuTLS(creds, uri string) []string {
	hostPort, export, _ := strings.Cut(strings.TrimPrefix(uri, "nbds://"), "/")
	host, port, _ := net.SplitHostPort(hostPort)
	return []string{"--object", "tls-creds-x509,id=tls0,endpoint=client,dir=" + creds,
		"--image-opts", "driver=nbd,server.type=inet,server.host=" + host + ",server.port=" + port + ",export=" + export + ",tls-creds=tls0"}
}

func TestNBDStartTLS(t *testing.T) {
	ca := testenv.NewCA(t)
	e := tlsEnv(t, ca, "on")
	_, uri := e.AttachedVolume("disk", 16<<20)
	if !strings.HasPrefix(uri, "nbds://"+e.Addrs.NBD+"/") {
		t.Fatalf("connection_info %q: want nbds://%s/…", uri, e.Addrs.NBD)
	}
	creds := clientCreds(t, ca)
	// qemu-io writes a pattern through TLS and reads it back in a new
	// connection.
	mustTool(t, "qemu-io", append(qemuTLS(creds, uri), "-c", "write -P 0xab 4096 65536", "-c", "flush")...)
	out := mustTool(t, "qemu-io", append(qemuTLS(creds, uri), "-c", "read -P 0xab 4096 65536")...)
	if !strings.Contains(out, "read 65536/65536") {
		t.Fatalf("qemu-io read: %s", out)
	}
	out = mustTool(t, "qemu-img", append([]string{"info"}, qemuTLS(creds, uri)...)...)
	if !strings.Contains(out, "16 MiB") {
		t.Fatalf("qemu-img info: %s", out)
	}
	// nbdinfo on the nbds:// URI negotiates TLS; with nbd-tls on, a
	// plain client is still served.
	out = mustTool(t, "nbdinfo", uri+"?tls-certificates="+creds)
	if !strings.Contains(out, "export-size: 16777216") || !strings.Contains(out, "newstyle-fixed with TLS") {
		t.Fatalf("nbdinfo nbds://: %s", out)
	}
	out = mustTool(t, "nbdinfo", "nbd://"+strings.TrimPrefix(uri, "nbds://"))
	if !strings.Contains(out, "newstyle-fixed without TLS") {
		t.Fatalf("nbdinfo nbd://: %s", out)
	}
	// A client that does not trust the CA gives up.
	other := clientCreds(t, testenv.NewCA(t))
	if out, err := tool(t, "nbdinfo", uri+"?tls-certificates="+other); err == nil {
		t.Fatalf("nbdinfo trusted a certificate of another CA: %s", out)
	}
}

func TestNBDRequireTLS(t *testing.T) {
	ca := testenv.NewCA(t)
	e := tlsEnv(t, ca, "require")
	_, uri := e.AttachedVolume("disk", 16<<20)
	creds := clientCreds(t, ca)
	out := mustTool(t, "nbdinfo", uri+"?tls-certificates="+creds)
	if !strings.Contains(out, "newstyle-fixed with TLS") {
		t.Fatalf("nbdinfo nbds://: %s", out)
	}
	mustTool(t, "qemu-io", append(qemuTLS(creds, uri), "-c", "read 0 4096")...)
	// Plain text: libnbd and qemu are refused, and the refusal on the
	// wire is NBD_REP_ERR_TLS_REQD.
	plain := "nbd://" + strings.TrimPrefix(uri, "nbds://")
	if out, err := tool(t, "nbdinfo", plain); err == nil {
		t.Fatalf("nbdinfo in plain text was served: %s", out)
	}
	if out, err := tool(t, "qemu-img", "info", plain); err == nil {
		t.Fatalf("qemu-img in plain text was served: %s", out)
	}
	if got := plainListReply(t, e.Addrs.NBD); got != 1<<31+5 {
		t.Fatalf("NBD_OPT_LIST in plain text answered %#x, want NBD_REP_ERR_TLS_REQD", got)
	}
}

// plainListReply sends NBD_OPT_LIST without STARTTLS and returns the type
// of the server's reply.
func plainListReply(t *testing.T, addr string) uint32 {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var hello [18]byte
	if _, err := io.ReadFull(c, hello[:]); err != nil {
		t.Fatal(err)
	}
	msg := binary.BigEndian.AppendUint32(nil, 3) // fixed newstyle, no zeroes
	msg = binary.BigEndian.AppendUint64(msg, 0x49484156454F5054)
	msg = binary.BigEndian.AppendUint32(msg, 3) // NBD_OPT_LIST
	msg = binary.BigEndian.AppendUint32(msg, 0)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	var rep [20]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint32(rep[12:])
}
