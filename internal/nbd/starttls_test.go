package nbd_test

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"testing"

	"github.com/stowage/stowage/internal/nbd"
	"github.com/stowage/stowage/internal/testenv"
)

const (
	optStartTLS  = 5
	repAck       = 1
	repErrUnsup  = 1<<31 + 1
	repErrInval  = 1<<31 + 3
	repErrTLSReq = 1<<31 + 5
)

// tlsOptions gives a server a certificate for 127.0.0.1 and returns the
// client's configuration, which trusts only its CA.
func tlsOptions(t *testing.T, require bool) (nbd.Options, *tls.Config) {
	ca := testenv.NewCA(t)
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key")
	ca.Issue(t, crt, key, 1, "127.0.0.1")
	kp, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	return nbd.Options{TLS: &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}, RequireTLS: require},
		&tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"}
}

// startTLS sends NBD_OPT_STARTTLS, expects the ACK and continues inside
// TLS.
func (c *rawClient) startTLS(cfg *tls.Config) {
	c.t.Helper()
	c.option(optStartTLS, nil)
	if typ, data := c.optReply(optStartTLS); typ != repAck {
		c.t.Fatalf("STARTTLS: %#x %q", typ, data)
	}
	tc := tls.Client(c.nc, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.nc = tc
}

func TestStartTLSNotConfigured(t *testing.T) {
	s := startServer(t)
	c := dial(t, s.addr, 3)
	c.option(optStartTLS, nil)
	if typ, _ := c.optReply(optStartTLS); typ != repErrUnsup {
		t.Fatalf("STARTTLS without TLS configured: %#x, want NBD_REP_ERR_UNSUP", typ)
	}
}

func TestStartTLS(t *testing.T) {
	opts, client := tlsOptions(t, false)
	s := startServer(t, opts)
	if err := s.pool.Create(context.Background(), "v", 1<<20); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.addr, 3)
	c.option(optStartTLS, []byte{0})
	if typ, _ := c.optReply(optStartTLS); typ != repErrInval {
		t.Fatalf("STARTTLS with data: %#x, want NBD_REP_ERR_INVALID", typ)
	}
	c.startTLS(client)
	c.option(optStartTLS, nil)
	if typ, _ := c.optReply(optStartTLS); typ != repErrInval {
		t.Fatalf("a second STARTTLS: %#x, want NBD_REP_ERR_INVALID", typ)
	}
	if size, _ := c.goExport("v"); size != 1<<20 {
		t.Fatalf("size %d over TLS", size)
	}
	c.request(0, 0, 7, 0, 4096, nil)
	if h, e := c.reply(); h != 7 || e != 0 {
		t.Fatalf("read over TLS: handle %d error %d", h, e)
	}
	c.read(4096)

	// Offered, not required: plain text is still served.
	p := dial(t, s.addr, 3)
	if size, _ := p.goExport("v"); size != 1<<20 {
		t.Fatalf("size %d in plain text", size)
	}
}

func TestRequireTLS(t *testing.T) {
	opts, client := tlsOptions(t, true)
	s := startServer(t, opts)
	if err := s.pool.Create(context.Background(), "v", 1<<20); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.addr, 3)
	for _, opt := range []uint32{3, 7, 6} { // LIST, GO, INFO
		data := goData("v")
		if opt == 3 {
			data = nil
		}
		c.option(opt, data)
		if typ, _ := c.optReply(opt); typ != repErrTLSReq {
			t.Fatalf("option %d in plain text: %#x, want NBD_REP_ERR_TLS_REQD", opt, typ)
		}
	}
	c.startTLS(client)
	if size, _ := c.goExport("v"); size != 1<<20 {
		t.Fatalf("size %d over TLS", size)
	}

	// EXPORT_NAME has no error reply: the connection ends.
	p := dial(t, s.addr, 3)
	p.option(1, []byte("v"))
	p.expectClosed()
}
