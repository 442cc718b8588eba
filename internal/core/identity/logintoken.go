package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
)

// loginTokenLen is the length of a login token: 40 lowercase hex
// characters (160 bits), the shape of the DRF tokens Waldur clients expect.
const loginTokenLen = 40

// loginToken derives the secret of the login token whose record has id.
// Only hashes of tokens are stored, yet a login must hand back the same
// token while it is valid (Waldur's get-or-create): deriving it from the
// record's id under the server's session key gives the same token again
// without storing it. Whoever holds that key can already sign sessions
// for anyone, so the derivation adds no new secret to protect.
func (s *Service) loginToken(id string) string {
	mac := hmac.New(sha256.New, s.jwtKey)
	mac.Write([]byte("login-token:" + id))
	return hex.EncodeToString(mac.Sum(nil))[:loginTokenLen]
}

// isLoginToken tells a login token's shape from a stw_ token's.
func isLoginToken(raw string) bool {
	if len(raw) != loginTokenLen {
		return false
	}
	for _, c := range raw {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// LoginToken returns the caller's login token named name, creating it on
// first use: the same token comes back until it is revoked or expires,
// and then a new one is made. It is an ordinary unbound API token of the
// user (listed, revocable), accepted wherever tokens are.
func (s *Service) LoginToken(ctx context.Context, p Principal, name string) (string, error) {
	if p.BoundProject != "" {
		return "", errs.E(errs.Permission, "a project-bound credential cannot get a login token")
	}
	now := s.now()
	req := page.Request{Limit: page.MaxLimit}
	for {
		rows, err := s.store.ListTokens(ctx, p.User.ID, req)
		if err != nil {
			return "", fmt.Errorf("login token: %w", err)
		}
		for _, t := range rows {
			if t.Name != name || t.ProjectID != "" || t.RevokedAt != nil || (t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)) {
				continue
			}
			// A token someone named alike by hand is not derived; its
			// hash tells it apart.
			if raw := s.loginToken(t.ID); hashToken(raw) == t.Hash {
				return raw, nil
			}
		}
		if len(rows) < req.Limit {
			break
		}
		req.After = rows[len(rows)-1].ID
	}
	t := Token{ID: NewID(), UserID: p.User.ID, Name: name, Created: now.UTC()}
	raw := s.loginToken(t.ID)
	t.Hash, t.Prefix = hashToken(raw), raw[:12]
	if err := s.store.CreateToken(ctx, t); err != nil {
		return "", fmt.Errorf("login token: %w", err)
	}
	return raw, nil
}
