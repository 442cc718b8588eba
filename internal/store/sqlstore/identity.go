package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
)

var _ identity.Store = (*Store)(nil)

func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

func (s *Store) Bootstrap(ctx context.Context, o identity.Organisation, p identity.Project, u identity.User, t identity.Token) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := insertOrganisation(ctx, tx, o); err != nil {
			return err
		}
		if err := insertProject(ctx, tx, p); err != nil {
			return err
		}
		if err := insertUser(ctx, tx, u); err != nil {
			return err
		}
		m := identity.Membership{UserID: u.ID, Scope: identity.ScopeOrganisation, ScopeID: o.ID, Role: access.Owner, Created: o.Created}
		if err := putMembership(ctx, tx, m); err != nil {
			return err
		}
		return insertToken(ctx, tx, t)
	})
}

func insertOrganisation(ctx context.Context, tx *sql.Tx, o identity.Organisation) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO organisations (id, name, description, created_at) VALUES ($1, $2, $3, $4)",
		o.ID, o.Name, o.Description, ts(o.Created))
	if errs.Is(mapErr(err), errs.Exist) {
		return errs.Wrap(errs.Exist, fmt.Sprintf("organisation %q already exists", o.Name), err)
	}
	return mapErr(err)
}

func insertProject(ctx context.Context, tx *sql.Tx, p identity.Project) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO projects (id, organisation_id, name, description, created_at) VALUES ($1, $2, $3, $4, $5)",
		p.ID, p.OrganisationID, p.Name, p.Description, ts(p.Created))
	if errs.Is(mapErr(err), errs.Exist) {
		return errs.Wrap(errs.Exist, fmt.Sprintf("project %q already exists in this organisation", p.Name), err)
	}
	return mapErr(err)
}

func insertUser(ctx context.Context, tx *sql.Tx, u identity.User) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO users (id, username, email, full_name, staff, active, password_hash, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.ID, u.Username, u.Email, u.FullName, u.Staff, u.Active, u.PasswordHash, ts(u.Created))
	if errs.Is(mapErr(err), errs.Exist) {
		return errs.Wrap(errs.Exist, fmt.Sprintf("user %q already exists", u.Username), err)
	}
	return mapErr(err)
}

func putMembership(ctx context.Context, tx *sql.Tx, m identity.Membership) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO memberships (user_id, scope, scope_id, role, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, scope, scope_id) DO UPDATE SET role = excluded.role`,
		m.UserID, m.Scope, m.ScopeID, string(m.Role), ts(m.Created))
	return mapErr(err)
}

func insertToken(ctx context.Context, tx *sql.Tx, t identity.Token) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, user_id, project_id, name, hash, prefix, expires_at, parent_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		t.ID, t.UserID, nullStr(t.ProjectID), t.Name, t.Hash, t.Prefix, tsPtr(t.ExpiresAt), nullStr(t.ParentID), ts(t.Created))
	return mapErr(err)
}

func (s *Store) CreateOrganisation(ctx context.Context, o identity.Organisation, owner identity.Membership) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := insertOrganisation(ctx, tx, o); err != nil {
			return err
		}
		return putMembership(ctx, tx, owner)
	})
}

const orgCols = "id, name, description, created_at"

func scanOrganisation(row interface{ Scan(...any) error }) (identity.Organisation, error) {
	var o identity.Organisation
	var created int64
	err := row.Scan(&o.ID, &o.Name, &o.Description, &created)
	o.Created = fromTS(created)
	return o, err
}

func (s *Store) GetOrganisation(ctx context.Context, sc access.Scope, id string) (identity.Organisation, error) {
	q := new(query).add("SELECT "+orgCols+" FROM organisations WHERE id = ? AND ", id).visibleOrganisations("id", sc)
	o, err := scanOrganisation(s.r.QueryRowContext(ctx, q.String(), q.args...))
	if err != nil {
		return o, notFound(err, "organisation", id)
	}
	return o, nil
}

func (s *Store) ListOrganisations(ctx context.Context, sc access.Scope, r page.Request) ([]identity.Organisation, error) {
	q := new(query).add("SELECT "+orgCols+" FROM organisations WHERE id > ? AND ", r.After).visibleOrganisations("id", sc)
	q.add(" ORDER BY id LIMIT ?", r.Limit)
	return collect(ctx, s.r, q, scanOrganisation)
}

// collect runs q and scans every row with scan.
func collect[T any](ctx context.Context, db *sql.DB, q *query, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	rows, err := db.QueryContext(ctx, q.String(), q.args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, v)
	}
	return out, mapErr(rows.Err())
}

func (s *Store) CreateProject(ctx context.Context, p identity.Project) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertProject(ctx, tx, p) })
}

const projectCols = "id, organisation_id, name, description, created_at"

func scanProject(row interface{ Scan(...any) error }) (identity.Project, error) {
	var p identity.Project
	var created int64
	err := row.Scan(&p.ID, &p.OrganisationID, &p.Name, &p.Description, &created)
	p.Created = fromTS(created)
	return p, err
}

func (s *Store) GetProject(ctx context.Context, sc access.Scope, id string) (identity.Project, error) {
	q := new(query).add("SELECT "+projectCols+" FROM projects WHERE id = ? AND ", id).visibleProjects("id", sc)
	p, err := scanProject(s.r.QueryRowContext(ctx, q.String(), q.args...))
	if err != nil {
		return p, notFound(err, "project", id)
	}
	return p, nil
}

func (s *Store) ListProjects(ctx context.Context, sc access.Scope, f identity.ProjectFilter, r page.Request) ([]identity.Project, error) {
	q := new(query).add("SELECT "+projectCols+" FROM projects WHERE id > ? AND ", r.After).visibleProjects("id", sc)
	q.eq("organisation_id", f.OrganisationID)
	q.eq("name", f.Name)
	q.add(" ORDER BY id LIMIT ?", r.Limit)
	return collect(ctx, s.r, q, scanProject)
}

func (s *Store) UpdateProject(ctx context.Context, p identity.Project) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE projects SET name = $1, description = $2 WHERE id = $3", p.Name, p.Description, p.ID)
		if err != nil {
			if errs.Is(mapErr(err), errs.Exist) {
				return errs.Wrap(errs.Exist, fmt.Sprintf("project %q already exists in this organisation", p.Name), err)
			}
			return mapErr(err)
		}
		return mustAffect(res, "project", p.ID)
	})
}

func mustAffect(res sql.Result, what, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return errs.E(errs.NotExist, "%s %s not found", what, id)
	}
	return nil
}

func (s *Store) CreateUser(ctx context.Context, u identity.User) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertUser(ctx, tx, u) })
}

const userCols = "id, username, email, full_name, staff, active, password_hash, session_gen, created_at"

func scanUser(row interface{ Scan(...any) error }) (identity.User, error) {
	var u identity.User
	var created int64
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.FullName, &u.Staff, &u.Active, &u.PasswordHash, &u.SessionGen, &created)
	u.Created = fromTS(created)
	return u, err
}

func (s *Store) GetUser(ctx context.Context, id string) (identity.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = $1", id))
	if err != nil {
		return u, notFound(err, "user", id)
	}
	return u, nil
}

func (s *Store) FindUserByLogin(ctx context.Context, login string) (identity.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx,
		"SELECT "+userCols+" FROM users WHERE username = $1 OR (email <> '' AND email = LOWER($1)) ORDER BY username = $1 DESC LIMIT 1", login))
	if err != nil {
		return u, notFound(err, "user", login)
	}
	return u, nil
}

func (s *Store) SetPasswordHash(ctx context.Context, userID, hash string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE users SET password_hash = $1, session_gen = session_gen + 1 WHERE id = $2", hash, userID)
		if err != nil {
			return mapErr(err)
		}
		return mustAffect(res, "user", userID)
	})
}

func (s *Store) PutMembership(ctx context.Context, m identity.Membership) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if m.Role != access.Owner {
			if err := s.keepOwner(ctx, tx, m.UserID, m.Scope, m.ScopeID); err != nil {
				return err
			}
		}
		return putMembership(ctx, tx, m)
	})
}

// keepOwner refuses to take the owner role from the scope's last owner.
// On PostgreSQL the owners' rows are locked, so two owners demoting each
// other at once cannot both see the other one remain.
func (s *Store) keepOwner(ctx context.Context, tx *sql.Tx, userID, scope, scopeID string) error {
	q := "SELECT user_id FROM memberships WHERE scope = $1 AND scope_id = $2 AND role = 'owner'"
	if s.engine == Postgres {
		q += " FOR UPDATE"
	}
	rows, err := tx.QueryContext(ctx, q, scope, scopeID)
	if err != nil {
		return mapErr(err)
	}
	defer rows.Close()
	var owners []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return mapErr(err)
		}
		owners = append(owners, id)
	}
	if err := rows.Err(); err != nil {
		return mapErr(err)
	}
	if len(owners) == 1 && owners[0] == userID {
		return errs.E(errs.Conflict, "user %s is the last owner of this %s; make another owner first", userID, scope)
	}
	return nil
}

func (s *Store) DeleteMembership(ctx context.Context, userID, scope, scopeID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.keepOwner(ctx, tx, userID, scope, scopeID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM memberships WHERE user_id = $1 AND scope = $2 AND scope_id = $3", userID, scope, scopeID)
		if err != nil {
			return mapErr(err)
		}
		return mustAffect(res, "membership of user", userID)
	})
}

func (s *Store) ListMemberships(ctx context.Context, scope, scopeID string) ([]identity.Membership, error) {
	q := new(query).add(`SELECT m.user_id, u.username, m.scope, m.scope_id, m.role, m.created_at
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.scope = ? AND m.scope_id = ? ORDER BY u.username`, scope, scopeID)
	return collect(ctx, s.r, q, func(row interface{ Scan(...any) error }) (identity.Membership, error) {
		var m identity.Membership
		var role string
		var created int64
		err := row.Scan(&m.UserID, &m.Username, &m.Scope, &m.ScopeID, &role, &created)
		m.Role, m.Created = access.Role(role), fromTS(created)
		return m, err
	})
}

func (s *Store) OrganisationRole(ctx context.Context, userID, orgID string) (access.Role, error) {
	return s.roles(ctx, new(query).add("SELECT role FROM memberships WHERE user_id = ? AND scope = 'organisation' AND scope_id = ?", userID, orgID))
}

func (s *Store) ProjectRole(ctx context.Context, userID, projectID string) (access.Role, error) {
	return s.roles(ctx, new(query).add(`SELECT role FROM memberships WHERE user_id = ? AND scope = 'project' AND scope_id = ?
		UNION ALL SELECT m.role FROM memberships m JOIN projects p ON m.scope = 'organisation' AND m.scope_id = p.organisation_id
		WHERE m.user_id = ? AND p.id = ?`, userID, projectID, userID, projectID))
}

// roles returns the strongest role among q's rows ("" when none).
func (s *Store) roles(ctx context.Context, q *query) (access.Role, error) {
	rs, err := collect(ctx, s.r, q, func(row interface{ Scan(...any) error }) (access.Role, error) {
		var r string
		err := row.Scan(&r)
		return access.Role(r), err
	})
	var best access.Role
	for _, r := range rs {
		best = access.Max(best, r)
	}
	return best, err
}

func (s *Store) CreateToken(ctx context.Context, t identity.Token) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertToken(ctx, tx, t) })
}

const tokenCols = "id, user_id, project_id, name, hash, prefix, expires_at, parent_id, last_used_at, revoked_at, created_at"

func scanToken(row interface{ Scan(...any) error }) (identity.Token, error) {
	var t identity.Token
	var project, parent sql.NullString
	var exp, used, revoked sql.NullInt64
	var created int64
	err := row.Scan(&t.ID, &t.UserID, &project, &t.Name, &t.Hash, &t.Prefix, &exp, &parent, &used, &revoked, &created)
	t.ProjectID, t.ParentID = project.String, parent.String
	t.ExpiresAt, t.LastUsed, t.RevokedAt, t.Created = fromTSPtr(exp), fromTSPtr(used), fromTSPtr(revoked), fromTS(created)
	return t, err
}

func (s *Store) FindTokenByHash(ctx context.Context, hash string) (identity.Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE hash = $1", hash))
	if err != nil {
		return t, notFound(err, "token", "")
	}
	return t, nil
}

func (s *Store) ListTokens(ctx context.Context, userID string, r page.Request) ([]identity.Token, error) {
	q := new(query).add("SELECT "+tokenCols+" FROM tokens WHERE user_id = ? AND id > ? AND revoked_at IS NULL ORDER BY id LIMIT ?", userID, r.After, r.Limit)
	return collect(ctx, s.r, q, scanToken)
}

func (s *Store) RevokeToken(ctx context.Context, userID, id string, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL", ts(at), id, userID)
		if err != nil {
			return mapErr(err)
		}
		if err := mustAffect(res, "token", id); err != nil {
			return err
		}
		// Tokens made from this one, and the tokens made from those.
		_, err = tx.ExecContext(ctx, `WITH RECURSIVE made (id) AS (
				SELECT id FROM tokens WHERE parent_id = $1
				UNION SELECT t.id FROM tokens t JOIN made ON t.parent_id = made.id)
			UPDATE tokens SET revoked_at = $2 WHERE id IN (SELECT id FROM made) AND revoked_at IS NULL`, id, ts(at))
		return mapErr(err)
	})
}

func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	_, err := s.w.ExecContext(ctx, "UPDATE tokens SET last_used_at = $1 WHERE id = $2", ts(at), id)
	return mapErr(err)
}

func (s *Store) CountLoginAttempt(ctx context.Context, key string, now, stale time.Time) (int, error) {
	var n int
	// One statement, so that simultaneous attempts each see the count
	// with all the others in it.
	err := s.w.QueryRowContext(ctx, `INSERT INTO login_attempts (login_key, window_start, attempts) VALUES ($1, $2, 1)
		ON CONFLICT (login_key) DO UPDATE SET
			attempts = CASE WHEN login_attempts.window_start <= $3 THEN 1 ELSE login_attempts.attempts + 1 END,
			window_start = CASE WHEN login_attempts.window_start <= $3 THEN $2 ELSE login_attempts.window_start END
		RETURNING attempts`, key, ts(now), ts(stale)).Scan(&n)
	if err != nil {
		return 0, mapErr(err)
	}
	if n == 1 {
		// A new window: forget the windows that ended, so the table holds
		// only keys seen within the last window.
		if _, err := s.w.ExecContext(ctx, "DELETE FROM login_attempts WHERE window_start <= $1", ts(stale)); err != nil {
			return 0, mapErr(err)
		}
	}
	return n, nil
}

func (s *Store) RefundLoginAttempt(ctx context.Context, key string) error {
	_, err := s.w.ExecContext(ctx, "UPDATE login_attempts SET attempts = attempts - 1 WHERE login_key = $1 AND attempts > 0", key)
	return mapErr(err)
}

func (s *Store) EndSession(ctx context.Context, id string, expires, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM ended_sessions WHERE expires_at <= $1", ts(now)); err != nil {
			return mapErr(err)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO ended_sessions (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", id, ts(expires))
		return mapErr(err)
	})
}

func (s *Store) SessionEnded(ctx context.Context, id string) (bool, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM ended_sessions WHERE id = $1", id).Scan(&n); err != nil {
		return false, mapErr(err)
	}
	return n > 0, nil
}
