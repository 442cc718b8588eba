package identity

import (
	"context"
	"fmt"
	"regexp"
	"runtime"
	"strings"
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
	hashes *hashGate
	// lost is told of every project a user stops being able to use
	// capabilities on (see OnAccessLost).
	lost []AccessLost
	cost PasswordCost
}

// Options configure a Service.
type Options struct {
	// JWTKey signs session tokens; at least 32 bytes.
	JWTKey []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// HashSlots bounds the password hashes computed at once (see
	// HashSlots); 0 means one per CPU.
	HashSlots int
	// HashWait is how long a login waits for a hashing slot before it is
	// refused as Unavailable; 0 means a few seconds.
	HashWait time.Duration
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
	if o.HashSlots <= 0 {
		o.HashSlots = runtime.GOMAXPROCS(0)
	}
	if o.HashWait <= 0 {
		o.HashWait = defaultHashWait
	}
	return &Service{store: store, jwtKey: o.JWTKey, now: o.Now, hashes: newHashGate(o.HashSlots, o.HashWait),
		cost: o.PasswordCost.orDefault()}, nil
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
	if !(strings.HasPrefix(raw, tokenPrefix) || isLoginToken(raw)) || len(raw) > 128 {
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
	return Principal{User: u, TokenID: t.ID, BoundProject: t.ProjectID, ExpiresAt: t.ExpiresAt}, nil
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
	h, err := s.hash(ctx, n.Password)
	if err != nil {
		return User{}, err
	}
	u := User{ID: NewID(), Username: n.Username, Email: strings.ToLower(n.Email), FullName: n.FullName,
		Staff: n.Staff, Active: true, PasswordHash: h, Created: s.now().UTC()}
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

// NewToken is the input of CreateToken.
type NewToken struct {
	Name      string
	ProjectID string
	ExpiresAt *time.Time
}

// CreateToken issues a token for the caller and returns its secret, which is
// never retrievable again. A project-bound caller mints none (tokens are a
// user-level matter). A token cannot outlive the credential that made it:
// it expires no later than that credential, and revoking the token that
// made it revokes it too.
func (s *Service) CreateToken(ctx context.Context, p Principal, n NewToken) (Token, string, error) {
	if err := unbound(p, "create tokens"); err != nil {
		return Token{}, "", err
	}
	if len(n.Name) > 100 {
		return Token{}, "", errs.Field("name", "name must be at most 100 bytes")
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
	if p.ExpiresAt != nil && (n.ExpiresAt == nil || n.ExpiresAt.After(*p.ExpiresAt)) {
		n.ExpiresAt = p.ExpiresAt
	}
	raw, hash := newToken()
	t := Token{ID: NewID(), UserID: p.User.ID, ProjectID: n.ProjectID, Name: n.Name, Hash: hash, Prefix: raw[:12],
		ExpiresAt: n.ExpiresAt, ParentID: p.TokenID, Created: now}
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
	if err := unbound(p, "revoke tokens"); err != nil {
		return err
	}
	return s.store.RevokeToken(ctx, p.User.ID, id, s.now().UTC())
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
