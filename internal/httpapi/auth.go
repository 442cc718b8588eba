package httpapi

import (
	"context"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/errs"
)

// Scheme is a way of presenting credentials.
type Scheme uint

const (
	Bearer Scheme = 1 << iota // Authorization: Bearer <token or session>
	Token                     // Authorization: Token <token> (Waldur)
	APIKey                    // X-API-Key: <token> (WAYSCloud)
	Basic                     // HTTP Basic login:password or login:token (CloudSigma)
	Cookie                    // a session cookie (HPC-AI's AccessToken), named by Surface.Cookie
)

// Authenticator resolves credentials to a principal; identity.Service is one.
type Authenticator interface {
	AuthenticateToken(ctx context.Context, raw string) (identity.Principal, error)
	AuthenticatePassword(ctx context.Context, login, password, remote string) (identity.Principal, error)
	AuthenticateSession(ctx context.Context, raw, audience string) (identity.Principal, error)
}

// Surface is one face of the API: which credential schemes it accepts and
// how it renders errors.
type Surface struct {
	Auth    Authenticator
	Schemes Scheme
	Cookie  string // cookie name for the Cookie scheme
	// Audience names the sessions this surface accepts (as Bearer or
	// cookie): only those its own login issued. Empty accepts none.
	Audience string
	Render   Renderer
}

// Public adapts h without requiring credentials.
func (s Surface) Public(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			setRetryAfter(w, err)
			s.Render(w, r, err)
		}
	})
}

// setRetryAfter tells clients refused for load or for too many attempts
// when to come back, whatever body their surface renders.
func setRetryAfter(w http.ResponseWriter, err error) {
	switch errs.KindOf(err) {
	case errs.Unavailable:
		w.Header().Set("Retry-After", "1")
	case errs.RateLimited:
		w.Header().Set("Retry-After", "60")
	}
}

// Private adapts h, answering 401 in the surface's format unless the
// request carries valid credentials of an accepted scheme.
func (s Surface) Private(h HandlerFunc) http.Handler {
	return s.Public(func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.authenticate(r)
		if err != nil {
			return err
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
	})
}

var noCredentials = errs.E(errs.Unauthorized, "authentication credentials were not provided")

func (s Surface) authenticate(r *http.Request) (identity.Principal, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		kw, cred, _ := strings.Cut(strings.TrimSpace(h), " ")
		cred = strings.TrimSpace(cred)
		switch {
		case strings.EqualFold(kw, "Bearer") && s.Schemes&Bearer != 0:
			if strings.Count(cred, ".") == 2 {
				return s.Auth.AuthenticateSession(ctx, cred, s.Audience)
			}
			return s.Auth.AuthenticateToken(ctx, cred)
		case strings.EqualFold(kw, "Token") && s.Schemes&Token != 0:
			return s.Auth.AuthenticateToken(ctx, cred)
		case strings.EqualFold(kw, "Basic") && s.Schemes&Basic != 0:
			login, pw, ok := r.BasicAuth()
			if !ok {
				return identity.Principal{}, errs.E(errs.Unauthorized, "malformed Basic credentials")
			}
			return s.Auth.AuthenticatePassword(ctx, login, pw, ClientIP(r))
		}
		return identity.Principal{}, errs.E(errs.Unauthorized, "unsupported authorization scheme")
	}
	if k := r.Header.Get("X-API-Key"); k != "" && s.Schemes&APIKey != 0 {
		return s.Auth.AuthenticateToken(ctx, strings.TrimSpace(k))
	}
	if s.Schemes&Cookie != 0 && s.Cookie != "" {
		if c, err := r.Cookie(s.Cookie); err == nil && c.Value != "" {
			if err := sameSite(r); err != nil {
				return identity.Principal{}, err
			}
			return s.Auth.AuthenticateSession(ctx, c.Value, s.Audience)
		}
	}
	return identity.Principal{}, noCredentials
}

// sameSite refuses a write that a browser may have sent from another site
// on the strength of a cookie alone: a write with a body must be JSON,
// which a cross-site form cannot send without a CORS preflight we never
// grant, and no write may come from another origin by the browser's own
// account (Sec-Fetch-Site, or else Origin, which browsers send on every
// cross-origin POST).
func sameSite(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" && (ct != "" || r.ContentLength != 0) {
		return errs.E(errs.Permission, "a write authenticated by a cookie must have Content-Type application/json")
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return errs.E(errs.Permission, "cross-site write refused (Sec-Fetch-Site: %s)", site)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return errs.E(errs.Permission, "cross-origin write refused (Origin: %s)", o)
		}
	}
	return nil
}

// ClientIP is the peer address without its port, for per-client limits.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Principal returns the caller authenticated by Private.
func Principal(ctx context.Context) identity.Principal {
	p, _ := ctx.Value(principalKey).(identity.Principal)
	return p
}
