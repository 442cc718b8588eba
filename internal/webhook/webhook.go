// Package webhook owns outgoing webhook calls: which destinations the
// operator allows (--notify-allow), a client that dials only allowed
// addresses (checked on the address actually dialled, so a name that
// resolves elsewhere later — DNS rebinding — reaches nothing it should
// not), and the signature receivers verify.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery. The signature is "sha256=" and the hex HMAC-SHA256,
// under the target's secret, of the timestamp header's value, a ".", and
// the body; receivers recompute it and refuse stale timestamps.
const (
	HeaderEventID   = "X-Stowage-Event-Id"
	HeaderTimestamp = "X-Stowage-Timestamp"
	HeaderSignature = "X-Stowage-Signature"
)

// Sign is the signature header's value for body sent at unix time ts.
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery's signature as a receiver does.
func Verify(secret []byte, ts string, body []byte, sig string) bool {
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	return hmac.Equal([]byte(Sign(secret, n, body)), []byte(sig))
}

// Policy is the set of destinations the operator allows. Entries are
// CIDR prefixes, single addresses, host names (the name itself is trusted,
// whatever it resolves to) or "public" (every globally routable unicast
// address). The zero Policy allows nothing: webhooks are off until the
// operator names where they may go.
type Policy struct {
	prefixes []netip.Prefix
	hosts    map[string]bool
	public   bool
}

// ParsePolicy reads the entries of --notify-allow.
func ParsePolicy(entries []string) (*Policy, error) {
	p := &Policy{hosts: map[string]bool{}}
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "":
		case e == "public":
			p.public = true
		case strings.Contains(e, "/"):
			pr, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("notify-allow %q: %w", e, err)
			}
			p.prefixes = append(p.prefixes, pr.Masked())
		default:
			if a, err := netip.ParseAddr(e); err == nil {
				p.prefixes = append(p.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			} else if validHost(e) {
				p.hosts[e] = true
			} else {
				return nil, fmt.Errorf("notify-allow %q: want a CIDR, an address, a host name or public", e)
			}
		}
	}
	return p, nil
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Empty reports whether the policy allows nothing.
func (p *Policy) Empty() bool {
	return p == nil || !p.public && len(p.prefixes) == 0 && len(p.hosts) == 0
}

// special are ranges that are global unicast by the book but reach inside
// networks (shared address space, benchmarking, IETF protocol assignments,
// NAT64 and 6to4 embeddings of IPv4 addresses).
var special = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("192.0.0.0/24"), netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"), netip.MustParsePrefix("2002::/16"),
}

func isPublic(a netip.Addr) bool {
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, s := range special {
		if s.Contains(a) {
			return false
		}
	}
	return true
}

// AllowsAddr reports whether an address may be dialled.
func (p *Policy) AllowsAddr(a netip.Addr) bool {
	if p == nil {
		return false
	}
	a = a.Unmap()
	for _, pr := range p.prefixes {
		if pr.Contains(a) {
			return true
		}
	}
	return p.public && isPublic(a)
}

func (p *Policy) allowsHost(host string) bool {
	return p != nil && p.hosts[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// ErrNotAllowed marks a destination the policy refuses.
var ErrNotAllowed = errors.New("destination not allowed by --notify-allow")

// CheckURL validates a webhook URL at registration: http or https, no
// credentials in it, and a host whose every address the policy allows.
func (p *Policy) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("want an absolute http or https URL")
	}
	if u.User != nil {
		return fmt.Errorf("the URL must not carry credentials (deliveries are signed instead)")
	}
	if u.Fragment != "" {
		return fmt.Errorf("the URL must not have a fragment")
	}
	if p.Empty() {
		return fmt.Errorf("%w: the operator allows no webhook destinations", ErrNotAllowed)
	}
	host := u.Hostname()
	if p.allowsHost(host) {
		return nil
	}
	addrs, err := resolve(ctx, host)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, a := range addrs {
		if !p.AllowsAddr(a) && a.String() == host {
			return fmt.Errorf("%w: %s", ErrNotAllowed, host)
		}
		if !p.AllowsAddr(a) {
			return fmt.Errorf("%w: %s resolves to %s", ErrNotAllowed, host, a)
		}
	}
	return nil
}

func resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%s has no address", host)
	}
	return addrs, nil
}

// Client returns an HTTP client that reaches only what p allows: names
// are resolved here and only allowed addresses dialled (host names the
// policy names are dialled as resolved), no proxy is used, and redirects
// are not followed (a 3xx is an answer, not a success).
func (p *Policy) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if p.allowsHost(host) {
			return d.DialContext(ctx, network, addr)
		}
		addrs, err := resolve(ctx, host)
		if err != nil {
			return nil, err
		}
		var last error = fmt.Errorf("%w: %s", ErrNotAllowed, host)
		for _, a := range addrs {
			if !p.AllowsAddr(a) {
				continue
			}
			c, err := d.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
			if err == nil {
				return c, nil
			}
			last = err
		}
		return nil, last
	}
	tr := &http.Transport{Proxy: nil, DialContext: dial, TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute, ForceAttemptHTTP2: true}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
