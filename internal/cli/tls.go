package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stowage/stowage/internal/client"
)

// caFile is the CA given by --ca-cert or STOWAGE_CA_CERT; empty leaves
// the choice to the profile.
func (a *app) caFile() string {
	if a.caCert != "" {
		return a.caCert
	}
	return a.getenv("STOWAGE_CA_CERT")
}

// absCA makes the CA's path absolute, as a profile keeps it for commands
// run from any directory.
func absCA(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("--ca-cert: %w", err)
	}
	return abs, nil
}

// newClient is a client of endpoint that, given a CA file, trusts the
// certificates it signed (and no others): the API and S3 endpoints of a
// node whose certificate a private CA issued.
func newClient(endpoint, token, caFile string) (*client.Client, error) {
	c := client.New(endpoint, token)
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-cert: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, errors.New("--ca-cert " + caFile + ": no PEM certificate in it")
	}
	return c.WithTLS(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}), nil
}
