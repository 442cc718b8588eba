package httpapi

import (
	"context"
	"net"
	"net/http"
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
	AuthenticateSession(ctx context.Context, raw string) (identity.Principal, error)
}

// Surface is one face of the API: which credential schemes it accepts and
// how it renders errors.
type Surface struct {
	Auth    Authenticator
	Schemes Scheme
	Cookie  string // cookie name for the Cookie scheme
	Render  Renderer
}

// Public adapts h without requiring credentials.
func (s Surface) Public(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.Render(w, r, err)
		}
	})
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
				return s.Auth.AuthenticateSession(ctx, cred)
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
			return s.Auth.AuthenticateSession(ctx, c.Value)
		}
	}
	return identity.Principal{}, noCredentials
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
