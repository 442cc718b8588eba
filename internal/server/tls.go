package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// certPollInterval is how often the certificate files are checked for a
// change (a renewal by certbot or an operator's copy); SIGHUP reloads at
// once.
const certPollInterval = 5 * time.Second

// certs holds the node's TLS certificates and swaps them in place when the
// files change: a handshake takes whatever is current, connections already
// established keep the certificate they were made with, so a reload drops
// no connection.
type certs struct {
	cert, key string // a file pair, or cert a directory and key empty
	log       *slog.Logger
	cur       atomic.Pointer[certSet]
}

// certSet is one load of the files: the certificates and the files'
// fingerprint (names, sizes, modification times) it was loaded from.
type certSet struct {
	list  []*tls.Certificate
	stamp string
}

// newCerts loads the certificates once; a node whose TLS files do not load
// does not start.
func newCerts(cert, key string, log *slog.Logger) (*certs, error) {
	c := &certs{cert: cert, key: key, log: log}
	set, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cur.Store(set)
	return c, nil
}

// pollInterval is how often the files are checked: the configured
// interval (tests shorten it), else certPollInterval.
func pollInterval(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return certPollInterval
}

// pairs lists the certificate and key files to load: the configured pair,
// or every NAME.crt with its NAME.key in the directory.
func (c *certs) pairs() ([][2]string, error) {
	fi, err := os.Stat(c.cert)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	if !fi.IsDir() {
		if c.key == "" {
			return nil, fmt.Errorf("tls: --tls-cert %s is a file: --tls-key names its key", c.cert)
		}
		return [][2]string{{c.cert, c.key}}, nil
	}
	crts, err := filepath.Glob(filepath.Join(c.cert, "*.crt"))
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	slices.Sort(crts)
	var ps [][2]string
	for _, crt := range crts {
		ps = append(ps, [2]string{crt, strings.TrimSuffix(crt, ".crt") + ".key"})
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("tls: no NAME.crt with NAME.key in %s", c.cert)
	}
	return ps, nil
}

// stamp fingerprints the files so an unchanged set is not parsed again.
func stamp(pairs [][2]string) (string, error) {
	var b strings.Builder
	for _, p := range pairs {
		for _, f := range p {
			fi, err := os.Stat(f)
			if err != nil {
				return "", fmt.Errorf("tls: %w", err)
			}
			fmt.Fprintf(&b, "%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String(), nil
}

func (c *certs) load() (*certSet, error) {
	pairs, err := c.pairs()
	if err != nil {
		return nil, err
	}
	st, err := stamp(pairs)
	if err != nil {
		return nil, err
	}
	set := &certSet{stamp: st}
	for _, p := range pairs {
		kp, err := tls.LoadX509KeyPair(p[0], p[1])
		if err != nil {
			return nil, fmt.Errorf("tls: load %s: %w", p[0], err)
		}
		if kp.Leaf == nil {
			if kp.Leaf, err = x509.ParseCertificate(kp.Certificate[0]); err != nil {
				return nil, fmt.Errorf("tls: parse %s: %w", p[0], err)
			}
		}
		set.list = append(set.list, &kp)
	}
	return set, nil
}

// reload loads the files again when they changed. A half-written or broken
// set keeps the current certificates serving and is logged; the next
// change or SIGHUP tries again.
func (c *certs) reload(force bool) {
	if !force {
		pairs, err := c.pairs()
		if err == nil {
			var st string
			if st, err = stamp(pairs); err == nil && st == c.cur.Load().stamp {
				return
			}
		}
	}
	set, err := c.load()
	if err != nil {
		c.log.Warn("tls: certificates not reloaded; the previous ones keep serving", "err", err)
		return
	}
	if !force && set.stamp == c.cur.Load().stamp {
		return
	}
	c.cur.Store(set)
	c.log.Info("tls: certificates reloaded", "count", len(set.list))
}

// watchReload reloads the certificates on SIGHUP (systemctl reload) and
// whenever their files change, until ctx ends. Without TLS a SIGHUP is
// logged and ignored: its default action would end the node.
func (s *Server) watchReload(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if s.certs != nil {
		t := time.NewTicker(pollInterval(s.cfg.TLSPollInterval))
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if s.certs == nil {
				s.log.Info("SIGHUP: no TLS certificates to reload")
				continue
			}
			s.certs.reload(true)
		case <-tick:
			s.certs.reload(false)
		}
	}
}

// certificate picks the certificate for a handshake: the first that names
// the requested server and suits the client, else the first one.
func (c *certs) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	list := c.cur.Load().list
	for _, crt := range list {
		if hello.SupportsCertificate(crt) == nil {
			return crt, nil
		}
	}
	return list[0], nil
}

// config is the TLS configuration of every listener: Go's defaults
// (its cipher suites, TLS 1.3 preferred) with TLS 1.2 as the floor.
func (c *certs) config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.certificate}
}

// loadCerts loads the certificates when TLS is configured.
func (s *Server) loadCerts() error {
	if !s.cfg.TLS() {
		return nil
	}
	var err error
	s.certs, err = newCerts(s.cfg.TLSCert, s.cfg.TLSKey, s.log.With("component", "tls"))
	return err
}

// setupTLS gives both HTTP servers the TLS configuration (ServeTLS adds
// HTTP/2 to it) and marks the addresses as https.
func (s *Server) setupTLS() {
	if s.certs == nil {
		return
	}
	s.api.TLSConfig = s.certs.config()
	s.s3.TLSConfig = s.certs.config()
	s.addrs.TLS = true
}

// nbdTLS is the configuration NBD STARTTLS offers, or nil when it is off.
func (s *Server) nbdTLS() *tls.Config {
	if s.certs == nil || s.cfg.NBDTLS == "off" {
		return nil
	}
	return s.certs.config()
}

// serveHTTP serves srv on ln, in TLS when the node has certificates.
func (s *Server) serveHTTP(srv *http.Server, ln net.Listener) error {
	if s.certs != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// scheme is the URL scheme of the HTTP listeners.
func (s *Server) scheme() string {
	if s.certs != nil {
		return "https"
	}
	return "http"
}
