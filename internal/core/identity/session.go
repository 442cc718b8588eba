package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/stowage/stowage/internal/errs"
)

// Session audiences: the face a session was issued by and the only one
// that accepts it. A cookie a browser holds for one dialect is therefore
// never a Bearer token for the native API or another dialect.
const (
	AudienceNative     = "native"
	AudienceCloudSigma = "cloudsigma"
	AudienceHPCAI      = "hpcai"
)

// SessionLook is how a face's session tokens introduce themselves to
// clients that decode them: HPC-AI's clients read iss, aud and group.
type SessionLook struct {
	Issuer   string
	Audience []string // more audience names, after the face's own
}

// IssueSession signs a session token for p valid for ttl on the face
// named by audience. It lives as long as the user's sessions generation:
// a password change ends it. The group claim says whether p is staff
// ("admin") or not ("user").
func (s *Service) IssueSession(p Principal, ttl time.Duration, audience string, look ...SessionLook) (string, time.Time) {
	now := s.now()
	exp := now.Add(ttl)
	c := jwtClaims{ID: NewID(), Subject: p.User.ID, Audience: []string{audience}, Generation: p.User.SessionGen,
		Project: p.BoundProject, IssuedAt: now.Unix(), ExpiresAt: exp.Unix(), Groups: []string{"user"}}
	if p.User.Staff {
		c.Groups = []string{"admin"}
	}
	for _, l := range look {
		c.Issuer = l.Issuer
		c.Audience = append(c.Audience, l.Audience...)
	}
	return signJWT(s.jwtKey, c), exp
}

// AuthenticateSession resolves a session token from IssueSession for the
// face named by audience.
func (s *Service) AuthenticateSession(ctx context.Context, raw, audience string) (Principal, error) {
	c, err := s.session(raw, audience)
	if err != nil {
		return Principal{}, err
	}
	u, err := s.activeUser(ctx, c.Subject)
	if err != nil {
		return Principal{}, err
	}
	if c.Generation != u.SessionGen {
		return Principal{}, errs.E(errs.Unauthorized, "session ended by a password change; log in again")
	}
	ended, err := s.store.SessionEnded(ctx, c.ID)
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate session: %w", err)
	}
	if ended {
		return Principal{}, errs.E(errs.Unauthorized, "session ended by logout; log in again")
	}
	exp := time.Unix(c.ExpiresAt, 0).UTC()
	return Principal{User: u, BoundProject: c.Project, ExpiresAt: &exp}, nil
}

// EndSession revokes one session, as a logout does, so that a copy of its
// cookie no longer works. A token that is not a valid session of the face
// has nothing to end.
func (s *Service) EndSession(ctx context.Context, raw, audience string) error {
	c, err := s.session(raw, audience)
	if err != nil {
		return nil
	}
	if err := s.store.EndSession(ctx, c.ID, time.Unix(c.ExpiresAt, 0).UTC(), s.now().UTC()); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

func (s *Service) session(raw, audience string) (jwtClaims, error) {
	c, err := parseJWT(s.jwtKey, raw, s.now())
	if err == nil && (audience == "" || len(c.Audience) == 0 || c.Audience[0] != audience || c.ID == "") {
		err = errBadJWT
	}
	if err != nil {
		return jwtClaims{}, errs.Wrap(errs.Unauthorized, "invalid or expired session", err)
	}
	return c, nil
}
