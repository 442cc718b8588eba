package server

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/stowage/stowage/internal/console"
	"github.com/stowage/stowage/internal/httpapi"
	"github.com/stowage/stowage/internal/jobs"
)

// registerConsole mounts the web console on the API listener.
func (s *Server) registerConsole(mux httpapi.Mux) error {
	c, err := console.New(s.identity, jobs.NewService(s.store), s.volumes, s.objects, s.s3Endpoint,
		s.log.With("component", "console"), s.cfg.MaxBodyBytes)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	c.WithPools(s.pools()).WithMarket(s.market).WithSecureCookies(strings.HasPrefix(s.cfg.PublicURL, "https://")).Register(mux)
	return nil
}

// consoleOrigin reports whether a browser Origin is this node's console:
// the public URL, or the API listener's own address (any host name on its
// port when it listens on every interface).
func (s *Server) consoleOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	if pub, err := url.Parse(s.cfg.PublicURL); err == nil && s.cfg.PublicURL != "" && strings.EqualFold(pub.Scheme+"://"+pub.Host, origin) {
		return true
	}
	host, port, err := net.SplitHostPort(s.addrs.API)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, s.addrs.API) {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified() && u.Port() == port
}
