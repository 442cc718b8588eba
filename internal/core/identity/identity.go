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
	// SessionGen counts the times the user's sessions were all ended (by
	// a password change); a session is valid only for the generation it
	// was issued in.
	SessionGen int64
	Created    time.Time
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
	// ParentID is the token that created this one, if a token did:
	// revoking a token revokes the tokens it made.
	ParentID  string
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
	// ExpiresAt is when the credential (token or session) stops working;
	// nil when it does not expire. Nothing it creates may outlive it.
	ExpiresAt *time.Time
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
	// SetPasswordHash also moves the user to a new sessions generation,
	// which ends every session issued before.
	SetPasswordHash(ctx context.Context, userID, hash string) error

	// CountLoginAttempt counts one attempt against key and returns the
	// attempts in key's current window, this one included, in one atomic
	// step; a window that started at or before stale is replaced by one
	// starting now.
	CountLoginAttempt(ctx context.Context, key string, now, stale time.Time) (int, error)
	// RefundLoginAttempt takes back one attempt counted against key.
	RefundLoginAttempt(ctx context.Context, key string) error
	// EndSession records that session id no longer works; it may forget
	// that after expires, when the session would have ended anyway.
	EndSession(ctx context.Context, id string, expires, now time.Time) error
	SessionEnded(ctx context.Context, id string) (bool, error)

	// PutMembership and DeleteMembership refuse (errs.Conflict), in the
	// transaction that would do it, to take the owner role from the last
	// owner of a scope.
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
	// RevokeToken revokes the token and every token made from it.
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
