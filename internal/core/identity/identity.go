// Package identity owns tenants and who people are: organisations, projects,
// users, memberships, API tokens, passwords and signed session tokens. It
// resolves every credential scheme to one Principal and decides who may
// manage which tenant. It does not know HTTP; edges pass credentials in.
package identity

import (
	"context"
	"time"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/page"
)

type Organisation struct {
	ID          string
	Name        string
	Description string
	Created     time.Time
}

type Project struct {
	ID             string
	OrganisationID string
	Name           string
	Description    string
	Created        time.Time
}

type User struct {
	ID           string
	Username     string
	Email        string
	FullName     string
	Staff        bool
	Active       bool
	PasswordHash string
	Created      time.Time
}

// Membership scopes.
const (
	ScopeOrganisation = "organisation"
	ScopeProject      = "project"
)

type Membership struct {
	UserID   string
	Username string // filled on reads for display
	Scope    string
	ScopeID  string
	Role     access.Role
	Created  time.Time
}

// Token is an API token's record. The secret itself is never stored: Hash is
// its SHA-256 and Prefix its first characters, for people to recognise it.
type Token struct {
	ID        string
	UserID    string
	ProjectID string // empty: not bound to a project
	Name      string
	Hash      string
	Prefix    string
	ExpiresAt *time.Time
	LastUsed  *time.Time
	RevokedAt *time.Time
	Created   time.Time
}

// Principal is the authenticated caller behind any scheme.
type Principal struct {
	User User
	// TokenID is set when an API token authenticated the request.
	TokenID string
	// BoundProject narrows the principal to one project.
	BoundProject string
}

// Scope is what the principal may see.
func (p Principal) Scope() access.Scope {
	return access.Scope{UserID: p.User.ID, Staff: p.User.Staff, Project: p.BoundProject}
}

// Store is what identity needs from persistence. Every list and get that
// returns tenant data takes the caller's scope and filters in the query.
type Store interface {
	CountUsers(ctx context.Context) (int, error)
	// Bootstrap creates the first organisation, project, staff user (owner of
	// the organisation) and token in one transaction.
	Bootstrap(ctx context.Context, o Organisation, p Project, u User, t Token) error

	CreateOrganisation(ctx context.Context, o Organisation, owner Membership) error
	GetOrganisation(ctx context.Context, s access.Scope, id string) (Organisation, error)
	ListOrganisations(ctx context.Context, s access.Scope, r page.Request) ([]Organisation, error)

	CreateProject(ctx context.Context, p Project) error
	GetProject(ctx context.Context, s access.Scope, id string) (Project, error)
	ListProjects(ctx context.Context, s access.Scope, f ProjectFilter, r page.Request) ([]Project, error)
	UpdateProject(ctx context.Context, p Project) error

	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, id string) (User, error)
	// FindUserByLogin looks a user up by username or email.
	FindUserByLogin(ctx context.Context, login string) (User, error)
	SetPasswordHash(ctx context.Context, userID, hash string) error

	PutMembership(ctx context.Context, m Membership) error
	DeleteMembership(ctx context.Context, userID, scope, scopeID string) error
	ListMemberships(ctx context.Context, scope, scopeID string) ([]Membership, error)
	// OrganisationRole and ProjectRole return the user's effective role: on a
	// project that is the stronger of its project and organisation roles.
	OrganisationRole(ctx context.Context, userID, orgID string) (access.Role, error)
	ProjectRole(ctx context.Context, userID, projectID string) (access.Role, error)

	CreateToken(ctx context.Context, t Token) error
	FindTokenByHash(ctx context.Context, hash string) (Token, error)
	ListTokens(ctx context.Context, userID string, r page.Request) ([]Token, error)
	RevokeToken(ctx context.Context, userID, id string, at time.Time) error
	TouchToken(ctx context.Context, id string, at time.Time) error

	// GetProfile fails with errs.NotExist for a user who never saved one.
	GetProfile(ctx context.Context, userID string) (Profile, error)
	PutProfile(ctx context.Context, pr Profile) error
}

// ProjectFilter narrows project lists.
type ProjectFilter struct {
	OrganisationID string
	Name           string
}
