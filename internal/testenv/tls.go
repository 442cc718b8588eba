package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/config"
)

// CA is a private certificate authority for a test: it writes its own
// certificate to Path and issues server certificates, as an operator's
// CA would.
type CA struct {
	Path string // the CA certificate, PEM
	Pool *x509.CertPool
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA creates a CA in a temporary directory.
func NewCA(t testing.TB) *CA {
	t.Helper()
	ca, err := NewCAIn(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// NewCAIn creates a CA whose certificate is dir/ca.pem; benchmarks use
// it without a testing.TB.
func NewCAIn(dir string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stowage test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{Path: filepath.Join(dir, "ca.pem"), Pool: x509.NewCertPool(), cert: cert, key: key}
	ca.Pool.AddCert(cert)
	return ca, writePEM(ca.Path, "CERTIFICATE", der)
}

// Issue writes a server certificate for names (DNS names, or IP
// addresses) with the given serial number to certPath and its key to
// keyPath. The serial tells the tests which certificate a handshake got.
func (ca *CA) Issue(t testing.TB, certPath, keyPath string, serial int64, names ...string) {
	t.Helper()
	if err := ca.IssueFiles(certPath, keyPath, serial, names...); err != nil {
		t.Fatal(err)
	}
}

// IssueFiles is Issue without a testing.TB.
func (ca *CA) IssueFiles(certPath, keyPath string, serial int64, names ...string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	// Key first: a watcher that sees the new certificate finds its key.
	if err := writePEM(keyPath, "PRIVATE KEY", kder); err != nil {
		return err
	}
	return writePEM(certPath, "CERTIFICATE", der)
}

// writePEM replaces path atomically, as a certificate renewal should.
func writePEM(path, typ string, der []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// TLS is an Option that gives the server a certificate for 127.0.0.1 and
// localhost issued by ca (serial 1), checked for changes every 20 ms.
func TLS(t testing.TB, ca *CA) Option {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	ca.Issue(t, cert, key, 1, "127.0.0.1", "localhost")
	return func(c *config.Config) {
		c.TLSCert, c.TLSKey, c.TLSPollInterval = cert, key, 20*time.Millisecond
	}
}

// TLSClient is an HTTP client that trusts only ca.
func TLSClient(ca *CA) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: ca.Pool}
	tr.ForceAttemptHTTP2 = true
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}
