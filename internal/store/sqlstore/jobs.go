package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
)

var _ jobs.Store = (*Store)(nil)

// execer is what both *sql.DB and *sql.Tx offer, so intent transactions in
// other files can insert their job with the same code.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// rowQuerier is what both *sql.DB and *sql.Tx offer for single-row
// reads, so a read can run inside an intent transaction or on its own.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func insertJob(ctx context.Context, x execer, j jobs.Job) error {
	_, err := x.ExecContext(ctx, `INSERT INTO jobs (id, kind, project_id, resource_type, resource_id, state, payload, result,
		error, attempts, max_attempts, run_after, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		j.ID, j.Kind, nullStr(j.ProjectID), j.ResourceType, j.ResourceID, string(j.State), string(j.Payload), string(j.Result),
		j.Error, j.Attempts, j.MaxAttempts, ts(j.RunAfter), ts(j.Created), ts(j.Updated))
	return mapErr(err)
}

func (s *Store) InsertJob(ctx context.Context, j jobs.Job) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertJob(ctx, tx, j) })
}

const jobCols = `id, kind, project_id, resource_type, resource_id, state, payload, result, error, attempts, max_attempts,
	run_after, lease_owner, lease_until, created_at, updated_at, finished_at`

func scanJob(row interface{ Scan(...any) error }) (jobs.Job, error) {
	var j jobs.Job
	var project sql.NullString
	var state, payload, result string
	var runAfter, leaseUntil, created, updated int64
	var finished sql.NullInt64
	err := row.Scan(&j.ID, &j.Kind, &project, &j.ResourceType, &j.ResourceID, &state, &payload, &result, &j.Error,
		&j.Attempts, &j.MaxAttempts, &runAfter, &j.LeaseOwner, &leaseUntil, &created, &updated, &finished)
	j.ProjectID, j.State = project.String, jobs.State(state)
	j.Payload, j.Result = json.RawMessage(payload), json.RawMessage(result)
	j.RunAfter, j.LeaseUntil, j.Created, j.Updated = fromTS(runAfter), fromTS(leaseUntil), fromTS(created), fromTS(updated)
	j.Finished = fromTSPtr(finished)
	return j, err
}

func (s *Store) ClaimJob(ctx context.Context, owner string, kinds []string, now, leaseUntil time.Time) (jobs.Job, bool, error) {
	q := new(query).add("UPDATE jobs SET state = 'running', lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?",
		owner, ts(leaseUntil), ts(now))
	q.add(" WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND run_after <= ? AND kind IN (", ts(now))
	for i, k := range kinds {
		if i > 0 {
			q.add(", ")
		}
		q.add("?", k)
	}
	q.add(") ORDER BY run_after, id LIMIT 1")
	if s.engine == Postgres {
		// Several nodes claim concurrently; SQLite's single writer already
		// serialises claims.
		q.add(" FOR UPDATE SKIP LOCKED")
	}
	q.add(") AND state = 'queued' RETURNING " + jobCols)
	var j jobs.Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		j, err = scanJob(tx.QueryRowContext(ctx, q.String(), q.args...))
		return mapErr(err) // no queued job is sql.ErrNoRows, which must read as NotExist
	})
	if errs.Is(err, errs.NotExist) {
		return jobs.Job{}, false, nil
	}
	if err != nil {
		return jobs.Job{}, false, fmt.Errorf("claim job: %w", err)
	}
	return j, true, nil
}

func (s *Store) ExtendJobLease(ctx context.Context, id, owner string, until time.Time) error {
	return s.ownedJobUpdate(ctx, id, "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
		ts(until), id, owner)
}

func (s *Store) FinishJob(ctx context.Context, id, owner string, state jobs.State, result json.RawMessage, msg string, now time.Time) error {
	return s.ownedJobUpdate(ctx, id, `UPDATE jobs SET state = $1, result = $2, error = $3, updated_at = $4, finished_at = $4,
		lease_owner = '', lease_until = 0 WHERE id = $5 AND lease_owner = $6 AND state = 'running'`,
		string(state), string(result), msg, ts(now), id, owner)
}

func (s *Store) RetryJob(ctx context.Context, id, owner string, runAfter time.Time, msg string, now time.Time) error {
	return s.ownedJobUpdate(ctx, id, `UPDATE jobs SET state = 'queued', run_after = $1, error = $2, updated_at = $3,
		lease_owner = '', lease_until = 0 WHERE id = $4 AND lease_owner = $5 AND state = 'running'`,
		ts(runAfter), msg, ts(now), id, owner)
}

func (s *Store) ReleaseJob(ctx context.Context, id, owner string, now time.Time) error {
	return s.ownedJobUpdate(ctx, id, `UPDATE jobs SET state = 'queued', run_after = $1, updated_at = $1, attempts = attempts - 1,
		lease_owner = '', lease_until = 0 WHERE id = $2 AND lease_owner = $3 AND state = 'running'`,
		ts(now), id, owner)
}

// ownedJobUpdate runs an update guarded by lease ownership; zero rows means
// the lease was lost to another runner.
func (s *Store) ownedJobUpdate(ctx context.Context, id, sql string, args ...any) error {
	res, err := s.w.ExecContext(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("update job %s: %w", id, mapErr(err))
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errs.E(errs.Conflict, "job %s: lease no longer held", id)
	}
	return nil
}

func (s *Store) RequeueExpiredJobs(ctx context.Context, now time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE jobs SET state = 'queued', lease_owner = '', lease_until = 0, updated_at = $1,
		error = 'lease expired; re-queued' WHERE state = 'running' AND lease_until < $1`, ts(now))
	if err != nil {
		return 0, fmt.Errorf("requeue expired jobs: %w", mapErr(err))
	}
	n, err := res.RowsAffected()
	return int(n), mapErr(err)
}

// jobVisible lets system jobs (no project) be seen by staff only.
func (q *query) jobVisible(sc access.Scope) *query {
	if sc.Staff && sc.Project == "" {
		return q.add("1 = 1")
	}
	return q.add("project_id IS NOT NULL AND ").visibleProjects("project_id", sc)
}

func (s *Store) GetJob(ctx context.Context, sc access.Scope, id string) (jobs.Job, error) {
	q := new(query).add("SELECT "+jobCols+" FROM jobs WHERE id = ? AND ", id).jobVisible(sc)
	j, err := scanJob(s.r.QueryRowContext(ctx, q.String(), q.args...))
	if err != nil {
		return j, notFound(err, "job", id)
	}
	return j, nil
}

func (s *Store) ListJobs(ctx context.Context, sc access.Scope, f jobs.Filter, r page.Request) ([]jobs.Job, error) {
	q := new(query).add("SELECT "+jobCols+" FROM jobs WHERE id > ? AND ", r.After).jobVisible(sc)
	if f.State != "" {
		q.add(" AND state = ?", string(f.State))
	}
	q.eq("kind", f.Kind)
	q.eq("resource_type", f.ResourceType)
	q.eq("resource_id", f.ResourceID)
	q.add(" ORDER BY id LIMIT ?", r.Limit)
	return collect(ctx, s.r, q, scanJob)
}

func (s *Store) CountJobsByState(ctx context.Context) (map[jobs.State]int, error) {
	return s.countJobStates(ctx, "SELECT state, COUNT(*) FROM jobs GROUP BY state")
}

// countJobStates runs q, a query of (state, count) rows.
func (s *Store) countJobStates(ctx context.Context, q string, args ...any) (map[jobs.State]int, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := map[jobs.State]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, mapErr(err)
		}
		out[jobs.State(st)] = n
	}
	return out, mapErr(rows.Err())
}
