package identity

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
)

// Service applies identity's rules over a Store.
type Service struct {
	store  Store
	jwtKey []byte
	now    func() time.Time
	logins *loginLimiter
	cost   PasswordCost
}

// Options configure a Service.
type Options struct {
	// JWTKey signs session tokens; at least 32 bytes.
	JWTKey []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PasswordCost is the cost of new password hashes; zero is OWASP's
	// minimum.
	PasswordCost PasswordCost
}

func NewService(store Store, o Options) (*Service, error) {
	if len(o.JWTKey) < 32 {
		return nil, fmt.Errorf("identity: JWT key must be at least 32 bytes, have %d", len(o.JWTKey))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{store: store, jwtKey: o.JWTKey, now: o.Now, logins: newLoginLimiter(o.Now), cost: o.PasswordCost.orDefault()}, nil
}

// NewID returns a time-ordered id, so keyset pagination by id is creation order.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// BootstrapResult is what a first start hands to the operator.
type BootstrapResult struct {
	Created  bool
	Token    string
	Password string
}

// Bootstrap creates organisation "default", project "default" and the staff
// user "admin" with a random password and an API token, once: when any user
// exists it does nothing.
func (s *Service) Bootstrap(ctx context.Context) (BootstrapResult, error) {
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return BootstrapResult{}, fmt.Errorf("bootstrap: %w", err)
	}
	if n > 0 {
		return BootstrapResult{}, nil
	}
	now := s.now().UTC()
	org := Organisation{ID: NewID(), Name: "default", Description: "Created at first start", Created: now}
	prj := Project{ID: NewID(), OrganisationID: org.ID, Name: "default", Description: "Created at first start", Created: now}
	pw := randomPassword()
	usr := User{ID: NewID(), Username: "admin", Staff: true, Active: true, PasswordHash: hashPassword(pw, s.cost), Created: now}
	raw, hash := newToken()
	tok := Token{ID: NewID(), UserID: usr.ID, Name: "bootstrap", Hash: hash, Prefix: raw[:12], Created: now}
	if err := s.store.Bootstrap(ctx, org, prj, usr, tok); err != nil {
		return BootstrapResult{}, fmt.Errorf("bootstrap: %w", err)
	}
	return BootstrapResult{Created: true, Token: raw, Password: pw}, nil
}

var unauthorized = errs.E(errs.Unauthorized, "invalid credentials")

// AuthenticateToken resolves an API token.
func (s *Service) AuthenticateToken(ctx context.Context, raw string) (Principal, error) {
	if !strings.HasPrefix(raw, tokenPrefix) || len(raw) > 128 {
		return Principal{}, unauthorized
	}
	t, err := s.store.FindTokenByHash(ctx, hashToken(raw))
	if errs.Is(err, errs.NotExist) {
		return Principal{}, unauthorized
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate token: %w", err)
	}
	now := s.now()
	if t.RevokedAt != nil || (t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)) {
		return Principal{}, unauthorized
	}
	u, err := s.activeUser(ctx, t.UserID)
	if err != nil {
		return Principal{}, err
	}
	// Recording every use would make each request a write; a minute of
	// precision is what people read last-used for.
	if t.LastUsed == nil || now.Sub(*t.LastUsed) > time.Minute {
		if err := s.store.TouchToken(ctx, t.ID, now.UTC()); err != nil {
			return Principal{}, fmt.Errorf("authenticate token: %w", err)
		}
	}
	return Principal{User: u, TokenID: t.ID, BoundProject: t.ProjectID}, nil
}

func (s *Service) activeUser(ctx context.Context, id string) (User, error) {
	u, err := s.store.GetUser(ctx, id)
	if errs.Is(err, errs.NotExist) || (err == nil && !u.Active) {
		return User{}, unauthorized
	}
	if err != nil {
		return User{}, fmt.Errorf("load user: %w", err)
	}
	return u, nil
}

// AuthenticatePassword checks a login (username or email) and password, or a
// login and an API token in the password's place, as CloudSigma clients send.
// Failures are rate limited per login and client address.
func (s *Service) AuthenticatePassword(ctx context.Context, login, password, remote string) (Principal, error) {
	key := strings.ToLower(login) + "|" + remote
	if !s.logins.allow(key) {
		return Principal{}, errs.E(errs.RateLimited, "too many failed logins; try again later")
	}
	p, err := s.checkPassword(ctx, login, password)
	if errs.Is(err, errs.Unauthorized) {
		s.logins.fail(key)
	}
	return p, err
}

func (s *Service) checkPassword(ctx context.Context, login, password string) (Principal, error) {
	if login == "" || len(login) > 254 || len(password) > 1024 {
		return Principal{}, unauthorized
	}
	u, err := s.store.FindUserByLogin(ctx, login)
	if err != nil && !errs.Is(err, errs.NotExist) {
		return Principal{}, fmt.Errorf("authenticate password: %w", err)
	}
	if strings.HasPrefix(password, tokenPrefix) {
		p, terr := s.AuthenticateToken(ctx, password)
		if terr == nil && err == nil && p.User.ID == u.ID {
			return p, nil
		}
		if terr != nil && !errs.Is(terr, errs.Unauthorized) {
			return Principal{}, terr
		}
		return Principal{}, unauthorized
	}
	// checkPassword runs even for unknown users so both cost the same.
	if !checkPassword(u.PasswordHash, password) || err != nil || !u.Active {
		return Principal{}, unauthorized
	}
	return Principal{User: u}, nil
}

// IssueSession signs a session token for p valid for ttl.
func (s *Service) IssueSession(p Principal, ttl time.Duration) (string, time.Time) {
	now := s.now()
	exp := now.Add(ttl)
	return signJWT(s.jwtKey, jwtClaims{Subject: p.User.ID, Project: p.BoundProject, IssuedAt: now.Unix(), ExpiresAt: exp.Unix()}), exp
}

// AuthenticateSession resolves a session token from IssueSession.
func (s *Service) AuthenticateSession(ctx context.Context, raw string) (Principal, error) {
	c, err := parseJWT(s.jwtKey, raw, s.now())
	if err != nil {
		return Principal{}, errs.Wrap(errs.Unauthorized, "invalid or expired session", err)
	}
	u, err := s.activeUser(ctx, c.Subject)
	if err != nil {
		return Principal{}, err
	}
	return Principal{User: u, BoundProject: c.Project}, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$`)

func checkName(field, v string) error {
	if !nameRE.MatchString(v) {
		return errs.Field(field, "%s must be 1-63 characters: letters, digits, spaces, '.', '_' or '-', starting with a letter or digit", field)
	}
	return nil
}

func checkDescription(v string) error {
	if len(v) > 1024 {
		return errs.Field("description", "description must be at most 1024 bytes")
	}
	return nil
}

// CreateOrganisation is for staff; the creator becomes its owner.
func (s *Service) CreateOrganisation(ctx context.Context, p Principal, name, description string) (Organisation, error) {
	if !p.User.Staff {
		return Organisation{}, errs.E(errs.Permission, "only staff may create organisations")
	}
	if err := checkName("name", name); err != nil {
		return Organisation{}, err
	}
	if err := checkDescription(description); err != nil {
		return Organisation{}, err
	}
	now := s.now().UTC()
	o := Organisation{ID: NewID(), Name: name, Description: description, Created: now}
	m := Membership{UserID: p.User.ID, Scope: ScopeOrganisation, ScopeID: o.ID, Role: access.Owner, Created: now}
	if err := s.store.CreateOrganisation(ctx, o, m); err != nil {
		return Organisation{}, fmt.Errorf("create organisation %q: %w", name, err)
	}
	return o, nil
}

func (s *Service) GetOrganisation(ctx context.Context, p Principal, id string) (Organisation, error) {
	return s.store.GetOrganisation(ctx, p.Scope(), id)
}

func (s *Service) ListOrganisations(ctx context.Context, p Principal, r page.Request) (page.Result[Organisation], error) {
	r = r.Normalize()
	rows, err := s.store.ListOrganisations(ctx, p.Scope(), page.Request{Limit: r.Limit + 1, After: r.After})
	if err != nil {
		return page.Result[Organisation]{}, fmt.Errorf("list organisations: %w", err)
	}
	return page.Make(rows, r, func(o Organisation) string { return o.ID }), nil
}

// CreateProject needs admin or owner on the organisation.
func (s *Service) CreateProject(ctx context.Context, p Principal, orgID, name, description string) (Project, error) {
	if err := checkName("name", name); err != nil {
		return Project{}, err
	}
	if err := checkDescription(description); err != nil {
		return Project{}, err
	}
	if p.BoundProject != "" {
		return Project{}, errs.E(errs.Permission, "a project-bound token cannot create projects")
	}
	if _, err := s.store.GetOrganisation(ctx, p.Scope(), orgID); err != nil {
		if errs.Is(err, errs.NotExist) {
			return Project{}, errs.Field("organisation_id", "organisation %s not found", orgID)
		}
		return Project{}, err
	}
	if err := s.requireOrgRole(ctx, p, orgID, access.Admin); err != nil {
		return Project{}, err
	}
	pr := Project{ID: NewID(), OrganisationID: orgID, Name: name, Description: description, Created: s.now().UTC()}
	if err := s.store.CreateProject(ctx, pr); err != nil {
		return Project{}, fmt.Errorf("create project %q: %w", name, err)
	}
	return pr, nil
}

func (s *Service) GetProject(ctx context.Context, p Principal, id string) (Project, error) {
	return s.store.GetProject(ctx, p.Scope(), id)
}

func (s *Service) ListProjects(ctx context.Context, p Principal, f ProjectFilter, r page.Request) (page.Result[Project], error) {
	r = r.Normalize()
	rows, err := s.store.ListProjects(ctx, p.Scope(), f, page.Request{Limit: r.Limit + 1, After: r.After})
	if err != nil {
		return page.Result[Project]{}, fmt.Errorf("list projects: %w", err)
	}
	return page.Make(rows, r, func(x Project) string { return x.ID }), nil
}

// ProjectUpdate holds the fields a PATCH may change; nil leaves a field alone.
type ProjectUpdate struct {
	Name        *string
	Description *string
}

func (s *Service) UpdateProject(ctx context.Context, p Principal, id string, u ProjectUpdate) (Project, error) {
	pr, err := s.store.GetProject(ctx, p.Scope(), id)
	if err != nil {
		return Project{}, err
	}
	if err := s.RequireProjectRole(ctx, p, id, access.Admin); err != nil {
		return Project{}, err
	}
	if u.Name != nil {
		if err := checkName("name", *u.Name); err != nil {
			return Project{}, err
		}
		pr.Name = *u.Name
	}
	if u.Description != nil {
		if err := checkDescription(*u.Description); err != nil {
			return Project{}, err
		}
		pr.Description = *u.Description
	}
	if err := s.store.UpdateProject(ctx, pr); err != nil {
		return Project{}, fmt.Errorf("update project %s: %w", id, err)
	}
	return pr, nil
}

// RequireProjectRole fails unless p holds at least min on the project.
// Callers must already have checked the project is visible, so that an
// invisible project answers NotExist rather than Permission.
func (s *Service) RequireProjectRole(ctx context.Context, p Principal, projectID string, min access.Role) error {
	if p.BoundProject != "" && p.BoundProject != projectID {
		return errs.E(errs.NotExist, "project %s not found", projectID)
	}
	if p.User.Staff {
		return nil
	}
	role, err := s.store.ProjectRole(ctx, p.User.ID, projectID)
	if err != nil {
		return fmt.Errorf("project role: %w", err)
	}
	if !role.AtLeast(min) {
		return errs.E(errs.Permission, "this needs the %s role on the project", min)
	}
	return nil
}

func (s *Service) requireOrgRole(ctx context.Context, p Principal, orgID string, min access.Role) error {
	if p.User.Staff {
		return nil
	}
	role, err := s.store.OrganisationRole(ctx, p.User.ID, orgID)
	if err != nil {
		return fmt.Errorf("organisation role: %w", err)
	}
	if !role.AtLeast(min) {
		return errs.E(errs.Permission, "this needs the %s role on the organisation", min)
	}
	return nil
}

// ListMembers lists memberships of an organisation or project visible to p.
func (s *Service) ListMembers(ctx context.Context, p Principal, scope, scopeID string) ([]Membership, error) {
	if err := s.visible(ctx, p, scope, scopeID); err != nil {
		return nil, err
	}
	return s.store.ListMemberships(ctx, scope, scopeID)
}

// AddMember grants (or changes) a role; it needs admin on the scope, and only
// owners may create owners.
func (s *Service) AddMember(ctx context.Context, p Principal, scope, scopeID, userID string, role access.Role) (Membership, error) {
	if !role.Valid() {
		return Membership{}, errs.Field("role", "role must be one of owner, admin, member, viewer")
	}
	if err := s.visible(ctx, p, scope, scopeID); err != nil {
		return Membership{}, err
	}
	min := access.Admin
	if role == access.Owner {
		min = access.Owner
	}
	if err := s.requireRole(ctx, p, scope, scopeID, min); err != nil {
		return Membership{}, err
	}
	u, err := s.store.GetUser(ctx, userID)
	if errs.Is(err, errs.NotExist) {
		return Membership{}, errs.Field("user_id", "user %s not found", userID)
	}
	if err != nil {
		return Membership{}, err
	}
	m := Membership{UserID: u.ID, Username: u.Username, Scope: scope, ScopeID: scopeID, Role: role, Created: s.now().UTC()}
	if err := s.store.PutMembership(ctx, m); err != nil {
		return Membership{}, fmt.Errorf("add member: %w", err)
	}
	return m, nil
}

func (s *Service) RemoveMember(ctx context.Context, p Principal, scope, scopeID, userID string) error {
	if err := s.visible(ctx, p, scope, scopeID); err != nil {
		return err
	}
	if err := s.requireRole(ctx, p, scope, scopeID, access.Admin); err != nil {
		return err
	}
	return s.store.DeleteMembership(ctx, userID, scope, scopeID)
}

func (s *Service) visible(ctx context.Context, p Principal, scope, scopeID string) error {
	var err error
	if scope == ScopeOrganisation {
		_, err = s.store.GetOrganisation(ctx, p.Scope(), scopeID)
	} else {
		_, err = s.store.GetProject(ctx, p.Scope(), scopeID)
	}
	return err
}

func (s *Service) requireRole(ctx context.Context, p Principal, scope, scopeID string, min access.Role) error {
	if scope == ScopeOrganisation {
		return s.requireOrgRole(ctx, p, scopeID, min)
	}
	return s.RequireProjectRole(ctx, p, scopeID, min)
}

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,62}$`)

// NewUser is the input of CreateUser.
type NewUser struct {
	Username string
	Email    string
	FullName string
	Password string
	Staff    bool
}

// CreateUser is for staff.
func (s *Service) CreateUser(ctx context.Context, p Principal, n NewUser) (User, error) {
	if !p.User.Staff || p.BoundProject != "" {
		return User{}, errs.E(errs.Permission, "only staff may create users")
	}
	if !usernameRE.MatchString(n.Username) {
		return User{}, errs.Field("username", "username must be 2-63 characters: lowercase letters, digits, '.', '_' or '-'")
	}
	if n.Email != "" && (len(n.Email) > 254 || !strings.Contains(n.Email, "@")) {
		return User{}, errs.Field("email", "email is not an address")
	}
	if len(n.FullName) > 200 {
		return User{}, errs.Field("full_name", "full_name must be at most 200 bytes")
	}
	if err := checkPassword8(n.Password); err != nil {
		return User{}, err
	}
	u := User{ID: NewID(), Username: n.Username, Email: strings.ToLower(n.Email), FullName: n.FullName,
		Staff: n.Staff, Active: true, PasswordHash: hashPassword(n.Password, s.cost), Created: s.now().UTC()}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return User{}, fmt.Errorf("create user %q: %w", n.Username, err)
	}
	return u, nil
}

func checkPassword8(pw string) error {
	if len(pw) < 8 || len(pw) > 1024 {
		return errs.Field("password", "password must be 8-1024 bytes")
	}
	return nil
}

// ChangePassword needs the current password.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string) error {
	if !checkPassword(p.User.PasswordHash, current) {
		return errs.Field("current_password", "current password is wrong")
	}
	if err := checkPassword8(next); err != nil {
		return err
	}
	return s.store.SetPasswordHash(ctx, p.User.ID, hashPassword(next, s.cost))
}

// NewToken is the input of CreateToken.
type NewToken struct {
	Name      string
	ProjectID string
	ExpiresAt *time.Time
}

// CreateToken issues a token for the caller and returns its secret, which is
// never retrievable again. A bound caller can only mint tokens bound to the
// same project.
func (s *Service) CreateToken(ctx context.Context, p Principal, n NewToken) (Token, string, error) {
	if len(n.Name) > 100 {
		return Token{}, "", errs.Field("name", "name must be at most 100 bytes")
	}
	if p.BoundProject != "" {
		if n.ProjectID != "" && n.ProjectID != p.BoundProject {
			return Token{}, "", errs.Field("project_id", "a project-bound token can only create tokens for its project")
		}
		n.ProjectID = p.BoundProject
	}
	if n.ProjectID != "" {
		if _, err := s.store.GetProject(ctx, p.Scope(), n.ProjectID); err != nil {
			if errs.Is(err, errs.NotExist) {
				return Token{}, "", errs.Field("project_id", "project %s not found", n.ProjectID)
			}
			return Token{}, "", err
		}
	}
	now := s.now().UTC()
	if n.ExpiresAt != nil && !n.ExpiresAt.After(now) {
		return Token{}, "", errs.Field("expires_at", "expires_at must be in the future")
	}
	raw, hash := newToken()
	t := Token{ID: NewID(), UserID: p.User.ID, ProjectID: n.ProjectID, Name: n.Name, Hash: hash, Prefix: raw[:12],
		ExpiresAt: n.ExpiresAt, Created: now}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	return t, raw, nil
}

func (s *Service) ListTokens(ctx context.Context, p Principal, r page.Request) (page.Result[Token], error) {
	r = r.Normalize()
	rows, err := s.store.ListTokens(ctx, p.User.ID, page.Request{Limit: r.Limit + 1, After: r.After})
	if err != nil {
		return page.Result[Token]{}, fmt.Errorf("list tokens: %w", err)
	}
	return page.Make(rows, r, func(t Token) string { return t.ID }), nil
}

// RevokeToken revokes one of the caller's own tokens.
func (s *Service) RevokeToken(ctx context.Context, p Principal, id string) error {
	return s.store.RevokeToken(ctx, p.User.ID, id, s.now().UTC())
}

// loginLimiter counts failed logins per key in a fixed window. State is per
// process: on several nodes an attacker gets a few more tries per node,
// which still caps guessing far below anything useful.
type loginLimiter struct {
	mu     sync.Mutex
	now    func() time.Time
	window time.Duration
	max    int
	fails  map[string]*failCount
}

type failCount struct {
	n     int
	start time.Time
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, window: time.Minute, max: 5, fails: map[string]*failCount{}}
}

func (l *loginLimiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fails[key]
	if f == nil {
		return true
	}
	if l.now().Sub(f.start) > l.window {
		delete(l.fails, key)
		return true
	}
	return f.n < l.max
}

func (l *loginLimiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	// Drop stale entries as we go so the map cannot grow without bound.
	if len(l.fails) > 10000 {
		for k, f := range l.fails {
			if now.Sub(f.start) > l.window {
				delete(l.fails, k)
			}
		}
	}
	f := l.fails[key]
	if f == nil || now.Sub(f.start) > l.window {
		f = &failCount{start: now}
		l.fails[key] = f
	}
	f.n++
}

// PublicUser returns who a user id is, for showing names next to the
// things they did; the password hash is cleared.
func (s *Service) PublicUser(ctx context.Context, id string) (User, error) {
	u, err := s.store.GetUser(ctx, id)
	u.PasswordHash = ""
	return u, err
}

// DefaultProject is the project a caller acts in when an API has no notion
// of projects (WAYSCloud's account, HPC-AI's user): the project a token is
// bound to, or else the oldest project the caller sees.
func (s *Service) DefaultProject(ctx context.Context, p Principal) (Project, error) {
	if p.BoundProject != "" {
		return s.GetProject(ctx, p, p.BoundProject)
	}
	res, err := s.ListProjects(ctx, p, ProjectFilter{}, page.Request{Limit: 1})
	if err != nil {
		return Project{}, err
	}
	if len(res.Items) == 0 {
		return Project{}, errs.E(errs.Permission, "this user belongs to no project")
	}
	return res.Items[0], nil
}
