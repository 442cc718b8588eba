package sqlstore

import (
	"context"
	"time"

	"github.com/stowage/stowage/internal/core/volume"
)

var _ volume.PolicyStore = (*Store)(nil)

const policyCols = "volume_id, project_id, bucket, every_hours, keep_last, keep_daily, keep_weekly, next_run, updated_at"

func scanPolicy(row rowScanner) (volume.BackupPolicy, error) {
	var p volume.BackupPolicy
	var next, updated int64
	err := row.Scan(&p.VolumeID, &p.ProjectID, &p.Bucket, &p.EveryHours, &p.KeepLast, &p.KeepDaily, &p.KeepWeekly, &next, &updated)
	p.NextRun, p.Updated = fromTS(next), fromTS(updated)
	return p, err
}

func (s *Store) PutBackupPolicy(ctx context.Context, p volume.BackupPolicy) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO backup_policies (`+policyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (volume_id) DO UPDATE SET bucket = excluded.bucket, every_hours = excluded.every_hours,
		keep_last = excluded.keep_last, keep_daily = excluded.keep_daily, keep_weekly = excluded.keep_weekly,
		next_run = excluded.next_run, updated_at = excluded.updated_at`,
		p.VolumeID, p.ProjectID, p.Bucket, p.EveryHours, p.KeepLast, p.KeepDaily, p.KeepWeekly, ts(p.NextRun), ts(p.Updated))
	return mapErr(err)
}

func (s *Store) GetBackupPolicy(ctx context.Context, volumeID string) (volume.BackupPolicy, error) {
	p, err := scanPolicy(s.r.QueryRowContext(ctx, "SELECT "+policyCols+" FROM backup_policies WHERE volume_id = $1", volumeID))
	return p, notFound(err, "backup policy of volume", volumeID)
}

func (s *Store) DeleteBackupPolicy(ctx context.Context, volumeID string) error {
	_, err := s.w.ExecContext(ctx, "DELETE FROM backup_policies WHERE volume_id = $1", volumeID)
	return mapErr(err)
}

func (s *Store) DueBackupPolicies(ctx context.Context, now time.Time, limit int) ([]volume.BackupPolicy, error) {
	q := new(query).add("SELECT "+policyCols+" FROM backup_policies WHERE next_run <= ? ORDER BY next_run LIMIT ?", ts(now), limit)
	return collect(ctx, s.r, q, scanPolicy)
}

// AdvanceBackupPolicy moves next_run from from to next, reporting false
// when another runner moved it first: each run is queued once.
func (s *Store) AdvanceBackupPolicy(ctx context.Context, volumeID string, from, next time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, "UPDATE backup_policies SET next_run = $1 WHERE volume_id = $2 AND next_run = $3",
		ts(next), volumeID, ts(from))
	if err != nil {
		return false, mapErr(err)
	}
	n, err := res.RowsAffected()
	return n == 1, mapErr(err)
}
