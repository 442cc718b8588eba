package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/nbd"
	"github.com/stowage/stowage/internal/testenv"
)

// tlsJobs are the rows of the TLS table: the protocol's cost shows on
// small random requests (per-record overhead) and on large sequential
// ones (encryption bandwidth).
var tlsJobs = []job{
	{"4k randread QD32", "randread", "4k", 32},
	{"1M read QD8", "read", "1M", 8},
}

// tlsVsPlain runs the same fio jobs against the export in plain text and
// through NBD_OPT_STARTTLS (libnbd with an nbds:// URI), alternating, on
// two listeners of one server over the pool.
func tlsVsPlain(ctx context.Context, pool *blockstore.Pool, plain, dir, size string, runtime time.Duration, rounds int) error {
	ca, err := testenv.NewCAIn(dir)
	if err != nil {
		return err
	}
	crt, key := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := ca.IssueFiles(crt, key, 1, "127.0.0.1"); err != nil {
		return err
	}
	// fio's libnbd refuses tls-certificates in a URI (local file access);
	// it reads the CA from its default place, $HOME/.pki/libnbd, so fio
	// runs with HOME=dir for both targets.
	pki := filepath.Join(dir, ".pki", "libnbd")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	if err := os.Rename(ca.Path, filepath.Join(pki, "ca-cert.pem")); err != nil {
		return err
	}
	home := os.Getenv("HOME")
	defer os.Setenv("HOME", home)
	if err := os.Setenv("HOME", dir); err != nil {
		return err
	}
	kp, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := nbd.NewServer(resolver[*blockstore.Volume]{pool.Volume}, nbd.Options{TLS: &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}, RequireTLS: true})
	ctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()
	secure := "nbds://" + ln.Addr().String() + "/bench"

	fmt.Printf("\nNBD over TLS (STARTTLS, TLS 1.3) vs plain text, same server and volume\n")
	return compare(target{"tls", nbdEngine(secure), nil, false}, target{"plain", nbdEngine(plain), nil, false}, tlsJobs, size, runtime, rounds)
}
