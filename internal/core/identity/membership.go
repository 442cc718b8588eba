package identity

import (
	"context"
	"fmt"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
)

// AccessLost is told, after a membership change has committed, of each
// project on which a user held a role that may use capabilities (member
// and up: S3 secrets, NBD export names) and now holds less. The services
// that hand out those capabilities take them back (rotate, revoke). The
// hooks run after the change commits, so that a refused change (the last
// owner) takes nothing; a hook's failure is returned to the caller while
// the change stands, which only a store failure between two transactions
// can cause.
// actorID is who made the change, for the events the hooks record.
type AccessLost func(ctx context.Context, actorID, userID, projectID string) error

// OnAccessLost registers f; the server wires it once, before serving.
func (s *Service) OnAccessLost(f AccessLost) { s.lost = append(s.lost, f) }

// unbound refuses project-bound callers what acts on the user or the
// organisation: a bound token acts only inside its project.
func unbound(p Principal, what string) error {
	if p.BoundProject != "" {
		return errs.E(errs.Permission, "a project-bound token cannot %s; use an unbound credential", what)
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

// AddMember grants (or changes) a role. Admins manage the people below
// them (viewers and members); only owners (and staff) touch admins and
// owners, whether as the role given or as the role the target holds now;
// the last owner of a scope cannot be demoted.
func (s *Service) AddMember(ctx context.Context, p Principal, scope, scopeID, userID string, role access.Role) (Membership, error) {
	if !role.Valid() {
		return Membership{}, errs.Field("role", "role must be one of owner, admin, member, viewer")
	}
	if err := s.visible(ctx, p, scope, scopeID); err != nil {
		return Membership{}, err
	}
	if err := s.mayManage(ctx, p, scope, scopeID, userID, role); err != nil {
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
	err = s.changing(ctx, p, u, scope, scopeID, func() error { return s.store.PutMembership(ctx, m) })
	if err != nil {
		return Membership{}, fmt.Errorf("add member: %w", err)
	}
	return m, nil
}

// RemoveMember takes a membership away, under the rules of AddMember.
func (s *Service) RemoveMember(ctx context.Context, p Principal, scope, scopeID, userID string) error {
	if err := s.visible(ctx, p, scope, scopeID); err != nil {
		return err
	}
	if err := s.mayManage(ctx, p, scope, scopeID, userID, ""); err != nil {
		return err
	}
	u, err := s.store.GetUser(ctx, userID)
	if errs.Is(err, errs.NotExist) {
		return errs.E(errs.NotExist, "membership of user %s not found", userID)
	}
	if err != nil {
		return err
	}
	return s.changing(ctx, p, u, scope, scopeID, func() error { return s.store.DeleteMembership(ctx, userID, scope, scopeID) })
}

// mayManage decides whether p may move the user's role on the scope to
// next ("" removes it). The target's role counted is the effective one,
// so a project admin cannot touch the project membership of an
// organisation owner either.
func (s *Service) mayManage(ctx context.Context, p Principal, scope, scopeID, userID string, next access.Role) error {
	// A bound token acts inside its project: who belongs to the
	// organisation is not its project's business.
	if scope == ScopeOrganisation {
		if err := unbound(p, "change organisation members"); err != nil {
			return err
		}
	}
	if err := s.requireRole(ctx, p, scope, scopeID, access.Admin); err != nil {
		return err
	}
	if p.User.Staff {
		return nil
	}
	mine, err := s.roleOn(ctx, p.User.ID, scope, scopeID)
	if err != nil {
		return err
	}
	if mine.AtLeast(access.Owner) {
		return nil
	}
	theirs, err := s.roleOn(ctx, userID, scope, scopeID)
	if err != nil {
		return err
	}
	if theirs.AtLeast(access.Admin) || next.AtLeast(access.Admin) {
		return errs.E(errs.Permission, "only owners may grant, change or take away the admin and owner roles of this %s", scope)
	}
	return nil
}

func (s *Service) roleOn(ctx context.Context, userID, scope, scopeID string) (access.Role, error) {
	var r access.Role
	var err error
	if scope == ScopeOrganisation {
		r, err = s.store.OrganisationRole(ctx, userID, scopeID)
	} else {
		r, err = s.store.ProjectRole(ctx, userID, scopeID)
	}
	if err != nil {
		return "", fmt.Errorf("%s role: %w", scope, err)
	}
	return r, nil
}

// changing runs change, made by p, and then tells the AccessLost hooks of
// every project of the scope on which u went from member or more to less.
// Staff lose nothing: they reach every project whatever their memberships.
func (s *Service) changing(ctx context.Context, p Principal, u User, scope, scopeID string, change func() error) error {
	if u.Staff || len(s.lost) == 0 {
		return change()
	}
	projects := []string{scopeID}
	if scope == ScopeOrganisation {
		var err error
		if projects, err = s.organisationProjects(ctx, scopeID); err != nil {
			return err
		}
	}
	before := make([]access.Role, len(projects))
	for i, pr := range projects {
		r, err := s.store.ProjectRole(ctx, u.ID, pr)
		if err != nil {
			return fmt.Errorf("project role: %w", err)
		}
		before[i] = r
	}
	if err := change(); err != nil {
		return err
	}
	for i, pr := range projects {
		if !before[i].AtLeast(access.Member) {
			continue
		}
		now, err := s.store.ProjectRole(ctx, u.ID, pr)
		if err != nil {
			return fmt.Errorf("project role: %w", err)
		}
		if now.AtLeast(access.Member) {
			continue
		}
		for _, f := range s.lost {
			if err := f(ctx, p.User.ID, u.ID, pr); err != nil {
				return fmt.Errorf("take back what user %s could use in project %s: %w", u.ID, pr, err)
			}
		}
	}
	return nil
}

func (s *Service) organisationProjects(ctx context.Context, orgID string) ([]string, error) {
	var ids []string
	r := page.Request{Limit: page.MaxLimit}
	for {
		rows, err := s.store.ListProjects(ctx, access.System, ProjectFilter{OrganisationID: orgID}, r)
		if err != nil {
			return nil, fmt.Errorf("list projects of organisation %s: %w", orgID, err)
		}
		for _, pr := range rows {
			ids = append(ids, pr.ID)
		}
		if len(rows) < r.Limit {
			return ids, nil
		}
		r.After = rows[len(rows)-1].ID
	}
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
