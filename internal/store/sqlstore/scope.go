package sqlstore

import "github.com/stowage/stowage/internal/core/access"

// visibleProjects appends a condition that holds when col names a project
// the scope may see: one the user is a member of, or one in an organisation
// the user is a member of; staff see all. A bound scope sees one project.
func (q *query) visibleProjects(col string, s access.Scope) *query {
	q.add("(")
	if s.Project != "" {
		q.add(col+" = ? AND ", s.Project)
	}
	if s.Staff {
		q.add("1 = 1)")
		return q
	}
	q.add("("+col+" IN (SELECT scope_id FROM memberships WHERE user_id = ? AND scope = 'project')", s.UserID)
	q.add(" OR "+col+" IN (SELECT p.id FROM projects p JOIN memberships m ON m.scope = 'organisation' AND m.scope_id = p.organisation_id WHERE m.user_id = ?)))", s.UserID)
	return q
}

// visibleOrganisations appends a condition that holds when col names an
// organisation the scope may see: one the user belongs to, or one holding a
// project the user belongs to.
func (q *query) visibleOrganisations(col string, s access.Scope) *query {
	q.add("(")
	if s.Project != "" {
		q.add(col+" IN (SELECT organisation_id FROM projects WHERE id = ?) AND ", s.Project)
	}
	if s.Staff {
		q.add("1 = 1)")
		return q
	}
	q.add("("+col+" IN (SELECT scope_id FROM memberships WHERE user_id = ? AND scope = 'organisation')", s.UserID)
	q.add(" OR "+col+" IN (SELECT p.organisation_id FROM projects p JOIN memberships m ON m.scope = 'project' AND m.scope_id = p.id WHERE m.user_id = ?)))", s.UserID)
	return q
}
