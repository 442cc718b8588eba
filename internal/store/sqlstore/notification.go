package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/notification"
	"github.com/stowage/stowage/internal/jobs"
)

var _ notification.Store = (*Store)(nil)

// notifyAttempts is how often an event is offered to its target: with the
// runner's backoff (doubling from a second, capped at five minutes) the
// last attempt comes about half an hour after the first.
const notifyAttempts = 15

// queueEvents inserts, in the transaction committing the change f
// describes, a delivery job for each of the bucket's rules that wants it,
// so an acknowledged change never loses its events. A bucket without
// rules costs nothing more: its state row was read anyway.
func queueEvents(ctx context.Context, tx *sql.Tx, st bucketState, f bucket.ChangeFacts) error {
	if st.notification == "" {
		return nil
	}
	var rules []bucket.NotificationRule
	if err := json.Unmarshal([]byte(st.notification), &rules); err != nil {
		return fmt.Errorf("decode notification of bucket %s: %w", st.name, err)
	}
	f.Bucket, f.Owner, f.Region = st.name, st.owner, st.region
	for _, r := range rules {
		if !r.Wants(f.Event, f.Key) {
			continue
		}
		msg := bucket.EventMessage{Records: []bucket.EventRecord{f.Record(r.ID)}}
		j, err := jobs.New(bucket.NotifyJobKind, st.owner, "bucket", st.name, bucket.NotifyPayload{ARN: r.ARN, Message: msg}, f.At)
		if err != nil {
			return err
		}
		j.MaxAttempts = notifyAttempts
		if err := insertJob(ctx, tx, j); err != nil {
			return fmt.Errorf("queue event: %w", err)
		}
	}
	return nil
}

// CountDeliveriesByState counts the event delivery jobs by state.
func (s *Store) CountDeliveriesByState(ctx context.Context) (map[jobs.State]int, error) {
	return s.countJobStates(ctx, "SELECT state, COUNT(*) FROM jobs WHERE kind = $1 GROUP BY state", bucket.NotifyJobKind)
}

const targetCols = "id, project_id, name, url, secret_sealed, created_by, created_at"

func scanTarget(row interface{ Scan(...any) error }) (notification.Target, error) {
	var t notification.Target
	var created int64
	err := row.Scan(&t.ID, &t.ProjectID, &t.Name, &t.URL, &t.SecretSealed, &t.CreatedBy, &created)
	t.Created = fromTS(created)
	return t, err
}

// CreateNotificationTarget records a project's webhook; a name the
// project already uses is errs.Exist.
func (s *Store) CreateNotificationTarget(ctx context.Context, t notification.Target) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO notification_targets (`+targetCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			t.ID, t.ProjectID, t.Name, t.URL, t.SecretSealed, t.CreatedBy, ts(t.Created))
		return mapErr(err)
	})
}

// ListNotificationTargets lists a project's webhooks by name.
func (s *Store) ListNotificationTargets(ctx context.Context, projectID string) ([]notification.Target, error) {
	q := new(query).add("SELECT "+targetCols+" FROM notification_targets WHERE project_id = ? ORDER BY name", projectID)
	return collect(ctx, s.r, q, scanTarget)
}

// NotificationTarget returns a project's webhook by name.
func (s *Store) NotificationTarget(ctx context.Context, projectID, name string) (notification.Target, error) {
	row := s.r.QueryRowContext(ctx, "SELECT "+targetCols+" FROM notification_targets WHERE project_id = $1 AND name = $2", projectID, name)
	t, err := scanTarget(row)
	if err != nil {
		return t, notFound(err, "notification target", name)
	}
	return t, nil
}

// DeleteNotificationTarget removes a project's webhook.
func (s *Store) DeleteNotificationTarget(ctx context.Context, projectID, name string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM notification_targets WHERE project_id = $1 AND name = $2", projectID, name)
		if err != nil {
			return mapErr(err)
		}
		return mustAffect(res, "notification target", name)
	})
}
