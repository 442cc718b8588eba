// Package access owns who-may-see-what: the caller's Scope that every store
// query filters by, and the role ladder used for permission checks. It holds
// no state; identity resolves principals and the store applies scopes in SQL.
package access

// Role is a membership role on an organisation or a project.
type Role string

const (
	Viewer Role = "viewer"
	Member Role = "member"
	Admin  Role = "admin"
	Owner  Role = "owner"
)

var rank = map[Role]int{Viewer: 1, Member: 2, Admin: 3, Owner: 4}

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool { return rank[r] > 0 }

// AtLeast reports whether r grants everything min grants.
func (r Role) AtLeast(min Role) bool { return rank[r] >= rank[min] && rank[r] > 0 }

// Max returns the stronger of two roles ("" counts as none).
func Max(a, b Role) Role {
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Scope is what a caller may see. Stores translate it into a WHERE clause so
// invisible rows never leave the database.
type Scope struct {
	UserID string
	// Staff sees every project.
	Staff bool
	// Project, when set, narrows the scope to that one project (a
	// project-bound token), even for staff.
	Project string
}

// System is the scope of the server itself (jobs, bootstrap): everything.
var System = Scope{Staff: true}
