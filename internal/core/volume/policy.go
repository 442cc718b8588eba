package volume

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/stowage/stowage/internal/backup"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
)

// BackupPolicy backs a volume up on a schedule and prunes its backups:
// after every backup of the volume (scheduled or not) the newest KeepLast
// are kept, plus the newest backup of each of the last KeepDaily days and
// KeepWeekly weeks that have one; the newest backup always stays.
type BackupPolicy struct {
	VolumeID   string
	ProjectID  string
	Bucket     string
	EveryHours int
	KeepLast   int
	KeepDaily  int
	KeepWeekly int
	NextRun    time.Time
	Updated    time.Time
}

// PolicyStore persists backup policies (sqlstore implements it).
type PolicyStore interface {
	PutBackupPolicy(ctx context.Context, p BackupPolicy) error
	GetBackupPolicy(ctx context.Context, volumeID string) (BackupPolicy, error)
	DeleteBackupPolicy(ctx context.Context, volumeID string) error
	DueBackupPolicies(ctx context.Context, now time.Time, limit int) ([]BackupPolicy, error)
	// AdvanceBackupPolicy moves NextRun from from to next and reports
	// whether it did (false: another runner did first).
	AdvanceBackupPolicy(ctx context.Context, volumeID string, from, next time.Time) (bool, error)
}

func (s *Service) policies() (PolicyStore, error) {
	ps, ok := s.store.(PolicyStore)
	if !ok || s.xfer == nil {
		return nil, errs.E(errs.Unavailable, "backup policies are not available on this node")
	}
	return ps, nil
}

// SetBackupPolicy sets (or replaces) a volume's backup policy; its first
// backup is queued at the next scheduler pass.
func (s *Service) SetBackupPolicy(ctx context.Context, p identity.Principal, volumeID string, in BackupPolicy) (BackupPolicy, error) {
	ps, err := s.policies()
	if err != nil {
		return BackupPolicy{}, err
	}
	switch {
	case in.EveryHours < 1 || in.EveryHours > 24*366:
		return BackupPolicy{}, errs.Field("every_hours", "every_hours must be from 1 to 8784")
	case in.KeepLast < 1 || in.KeepLast > 1000:
		return BackupPolicy{}, errs.Field("keep_last", "keep_last must be from 1 to 1000")
	case in.KeepDaily < 0 || in.KeepDaily > 1000:
		return BackupPolicy{}, errs.Field("keep_daily", "keep_daily must be from 0 to 1000")
	case in.KeepWeekly < 0 || in.KeepWeekly > 1000:
		return BackupPolicy{}, errs.Field("keep_weekly", "keep_weekly must be from 0 to 1000")
	}
	if err := (ObjectRef{Bucket: in.Bucket, Key: "-"}).check(); err != nil {
		return BackupPolicy{}, err
	}
	v, err := s.writable(ctx, p, volumeID)
	if err != nil {
		return BackupPolicy{}, err
	}
	if s.isFilesystem(v) {
		return BackupPolicy{}, errs.E(errs.Invalid, "volume %s is a filesystem; backups are of block volumes", v.ID)
	}
	if err := checkBucket(ctx, s.xfer, v.ProjectID, in.Bucket); err != nil {
		return BackupPolicy{}, err
	}
	now := s.o.Now().UTC()
	pol := BackupPolicy{VolumeID: v.ID, ProjectID: v.ProjectID, Bucket: in.Bucket, EveryHours: in.EveryHours,
		KeepLast: in.KeepLast, KeepDaily: in.KeepDaily, KeepWeekly: in.KeepWeekly, NextRun: now, Updated: now}
	if old, err := ps.GetBackupPolicy(ctx, v.ID); err == nil && old.Bucket == in.Bucket {
		pol.NextRun = old.NextRun // a new retention does not force a backup
	}
	if err := ps.PutBackupPolicy(ctx, pol); err != nil {
		return BackupPolicy{}, fmt.Errorf("set backup policy of volume %s: %w", v.ID, err)
	}
	err = s.apply(ctx, Intent{ProjectID: v.ProjectID, Event: s.event(p, v.ProjectID, "volume.backup_policy", "volume", v.ID,
		map[string]any{"bucket": pol.Bucket, "every_hours": pol.EveryHours, "keep_last": pol.KeepLast, "keep_daily": pol.KeepDaily, "keep_weekly": pol.KeepWeekly})})
	return pol, err
}

// GetBackupPolicy returns a visible volume's policy; a volume without one
// has a policy with EveryHours 0: no scheduled backups.
func (s *Service) GetBackupPolicy(ctx context.Context, p identity.Principal, volumeID string) (BackupPolicy, error) {
	ps, err := s.policies()
	if err != nil {
		return BackupPolicy{}, err
	}
	v, err := s.store.GetVolume(ctx, p.Scope(), volumeID)
	if err != nil {
		return BackupPolicy{}, err
	}
	pol, err := ps.GetBackupPolicy(ctx, v.ID)
	if errs.Is(err, errs.NotExist) {
		return BackupPolicy{VolumeID: v.ID, ProjectID: v.ProjectID}, nil
	}
	return pol, err
}

// DeleteBackupPolicy stops scheduled backups of a volume; its backups stay.
func (s *Service) DeleteBackupPolicy(ctx context.Context, p identity.Principal, volumeID string) error {
	ps, err := s.policies()
	if err != nil {
		return err
	}
	v, err := s.writable(ctx, p, volumeID)
	if err != nil {
		return err
	}
	if _, err := ps.GetBackupPolicy(ctx, v.ID); err != nil {
		return err
	}
	if err := ps.DeleteBackupPolicy(ctx, v.ID); err != nil {
		return err
	}
	return s.apply(ctx, Intent{ProjectID: v.ProjectID, Event: s.event(p, v.ProjectID, "volume.backup_policy_delete", "volume", v.ID, nil)})
}

// RunBackupPolicies queues the backups that are due and returns how many.
// A policy whose volume is gone is dropped.
func (s *Service) RunBackupPolicies(ctx context.Context) (int, error) {
	ps, err := s.policies()
	if err != nil {
		return 0, nil // nothing to run on this node
	}
	now := s.o.Now().UTC()
	due, err := ps.DueBackupPolicies(ctx, now, 100)
	if err != nil {
		return 0, fmt.Errorf("due backup policies: %w", err)
	}
	n := 0
	for _, pol := range due {
		v, ok, err := s.loadVolume(ctx, pol.VolumeID)
		if err != nil {
			return n, err
		}
		if !ok {
			if err := ps.DeleteBackupPolicy(ctx, pol.VolumeID); err != nil {
				return n, err
			}
			continue
		}
		next := pol.NextRun.Add(time.Duration(pol.EveryHours) * time.Hour)
		if next.Before(now) {
			next = now.Add(time.Duration(pol.EveryHours) * time.Hour) // missed runs are not caught up
		}
		won, err := ps.AdvanceBackupPolicy(ctx, pol.VolumeID, pol.NextRun, next)
		if err != nil || !won {
			return n, err
		}
		if !slices.Contains([]Status{Available, InUse}, v.Status) {
			continue // busy or broken: try at the next run
		}
		j, err := jobs.New(jobBackup, v.ProjectID, "volume", v.ID, backupPayload{Bucket: pol.Bucket, BackupID: backup.NewID(now)}, now)
		if err != nil {
			return n, err
		}
		if err := s.apply(ctx, Intent{ProjectID: v.ProjectID, Job: &j,
			Event: &Event{ID: NewID(), ProjectID: v.ProjectID, Action: "volume.backup", ResourceType: "volume", ResourceID: v.ID,
				Detail: map[string]any{"bucket": pol.Bucket, "policy": true}, Created: now}}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// prune applies the volume's policy to its backups in bucket, if it has
// one for that bucket.
func (s *Service) prune(ctx context.Context, v Volume, bucket string) error {
	ps, err := s.policies()
	if err != nil {
		return nil
	}
	pol, err := ps.GetBackupPolicy(ctx, v.ID)
	if errs.Is(err, errs.NotExist) || (err == nil && pol.Bucket != bucket) {
		return nil
	}
	if err != nil {
		return err
	}
	set, err := s.backupSet(ctx, v.ProjectID, bucket, v.ID, false)
	if err != nil {
		return err
	}
	defer set.Close()
	ids, err := set.List(ctx)
	if err != nil {
		return err
	}
	times := make([]time.Time, len(ids))
	for i, id := range ids {
		m, err := set.Manifest(ctx, id)
		if err != nil {
			return err
		}
		times[i] = m.Created
	}
	var drop []string
	keep := retain(times, pol)
	for i, id := range ids {
		if !keep[i] {
			drop = append(drop, id)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	return set.Delete(ctx, drop...)
}

// retain decides which backups (creation times, oldest first) a policy
// keeps.
func retain(times []time.Time, pol BackupPolicy) []bool {
	keep := make([]bool, len(times))
	days, weeks := map[string]bool{}, map[string]bool{}
	last := 0
	for i := len(times) - 1; i >= 0; i-- { // newest first
		t := times[i].UTC()
		if last < max(pol.KeepLast, 1) {
			keep[i] = true
			last++
		}
		if d := t.Format("2006-01-02"); !days[d] && len(days) < pol.KeepDaily {
			days[d] = true
			keep[i] = true
		}
		y, w := t.ISOWeek()
		if k := fmt.Sprint(y, "-", w); !weeks[k] && len(weeks) < pol.KeepWeekly {
			weeks[k] = true
			keep[i] = true
		}
	}
	return keep
}
