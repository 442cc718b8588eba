package sqlstore

import (
	"context"
	"time"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/jobs"
)

// OldestJobs returns, for queued and running jobs, when the oldest of each
// was created: a job stuck in either state shows as an age that grows.
// Event deliveries are left out: they wait as long as a tenant's receiver
// is down, which is no sign of a stuck node.
func (s *Store) OldestJobs(ctx context.Context) (map[jobs.State]time.Time, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT state, MIN(created_at) FROM jobs WHERE state IN ('queued', 'running') AND kind <> $1 GROUP BY state",
		bucket.NotifyJobKind)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := map[jobs.State]time.Time{}
	for rows.Next() {
		var st string
		var created int64
		if err := rows.Scan(&st, &created); err != nil {
			return nil, mapErr(err)
		}
		out[jobs.State(st)] = fromTS(created)
	}
	return out, mapErr(rows.Err())
}
