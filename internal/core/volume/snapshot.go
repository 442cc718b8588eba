package volume

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
)

// SnapshotCreate holds what a new snapshot may be given.
type SnapshotCreate struct {
	Name        string
	Description string
	Metadata    map[string]string
	KeptUntil   *time.Time
}

// CreateSnapshot records a snapshot of a volume and queues the job that
// takes it. Attached volumes may be snapshotted; writes completed before
// the job runs are in it.
func (s *Service) CreateSnapshot(ctx context.Context, p identity.Principal, volumeID string, c SnapshotCreate) (Snapshot, jobs.Job, error) {
	return s.createSnapshot(ctx, p, volumeID, c, false)
}

func (s *Service) createSnapshot(ctx context.Context, p identity.Principal, volumeID string, c SnapshotCreate, public bool) (Snapshot, jobs.Job, error) {
	v, err := s.writable(ctx, p, volumeID)
	if err != nil {
		return Snapshot{}, jobs.Job{}, err
	}
	if c.Name == "" {
		c.Name = "snapshot"
	}
	if err := checkName(c.Name); err != nil {
		return Snapshot{}, jobs.Job{}, err
	}
	if err := checkDescription(c.Description); err != nil {
		return Snapshot{}, jobs.Job{}, err
	}
	if err := checkMetadata(c.Metadata, nil); err != nil {
		return Snapshot{}, jobs.Job{}, err
	}
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	now := s.o.Now().UTC()
	if c.KeptUntil != nil && !c.KeptUntil.After(now) {
		return Snapshot{}, jobs.Job{}, errs.Field("kept_until", "kept_until must be in the future")
	}
	if t, err := s.catalog.Type(v.Type); err != nil || t.Kind != KindBlock {
		return Snapshot{}, jobs.Job{}, errs.E(errs.Invalid, "volume %s is not a block volume; snapshots are not supported for it yet", v.ID)
	}
	allowed := []Status{Available, InUse}
	if !slices.Contains(allowed, v.Status) {
		return Snapshot{}, jobs.Job{}, conflict("volume", v.ID, v.Status, "snapshot", allowed)
	}
	id := NewID()
	sn := Snapshot{ID: id, ProjectID: v.ProjectID, VolumeID: v.ID, Name: c.Name, Description: c.Description, Metadata: c.Metadata, Public: public, Size: v.Size,
		Status: SnapCreating, BackendID: id, KeptUntil: c.KeptUntil, Restorations: []string{}, Created: now, Updated: now}
	j, err := jobs.New(jobSnapshot, v.ProjectID, "snapshot", sn.ID, snapshotPayload{SourceBackend: v.BackendID}, now)
	if err != nil {
		return Snapshot{}, jobs.Job{}, err
	}
	err = s.apply(ctx, Intent{ProjectID: v.ProjectID, VolumeID: v.ID, From: allowed, NewSnapshot: &sn,
		Reserve: Usage{Snapshots: 1}, Job: &j,
		Event: s.event(p, v.ProjectID, "snapshot.create", "snapshot", sn.ID, map[string]any{"volume_id": v.ID})})
	if err != nil {
		return Snapshot{}, jobs.Job{}, fmt.Errorf("snapshot volume %s: %w", v.ID, err)
	}
	return sn, j, nil
}

func (s *Service) writableSnapshot(ctx context.Context, p identity.Principal, id string) (Snapshot, error) {
	sn, err := s.store.GetSnapshot(ctx, p.Scope(), id)
	if err != nil {
		return Snapshot{}, err
	}
	if err := s.projects.RequireProjectRole(ctx, p, sn.ProjectID, access.Member); err != nil {
		return Snapshot{}, err
	}
	return sn, nil
}

func (s *Service) GetSnapshot(ctx context.Context, p identity.Principal, id string) (Snapshot, error) {
	return s.store.GetSnapshot(ctx, p.Scope(), id)
}

func (s *Service) ListSnapshots(ctx context.Context, p identity.Principal, f SnapshotFilter, r page.Request) (page.Result[Snapshot], error) {
	r = r.Normalize()
	rows, err := s.store.ListSnapshots(ctx, p.Scope(), f, page.Request{Limit: r.Limit + 1, After: r.After})
	if err != nil {
		return page.Result[Snapshot]{}, fmt.Errorf("list snapshots: %w", err)
	}
	return page.Make(rows, r, func(x Snapshot) string { return x.ID }), nil
}

// SnapshotUpdate holds the fields a PATCH may change. ClearKeptUntil
// removes the retention date.
type SnapshotUpdate struct {
	Name           *string
	Description    *string
	Metadata       *map[string]string // replaces the whole map
	KeptUntil      *time.Time
	ClearKeptUntil bool
}

func (s *Service) UpdateSnapshot(ctx context.Context, p identity.Principal, id string, u SnapshotUpdate) (Snapshot, error) {
	sn, err := s.writableSnapshot(ctx, p, id)
	if err != nil {
		return Snapshot{}, err
	}
	if u.Name != nil {
		if err := checkName(*u.Name); err != nil {
			return Snapshot{}, err
		}
		sn.Name = *u.Name
	}
	if u.Description != nil {
		if err := checkDescription(*u.Description); err != nil {
			return Snapshot{}, err
		}
		sn.Description = *u.Description
	}
	if u.Metadata != nil {
		if err := checkMetadata(*u.Metadata, nil); err != nil {
			return Snapshot{}, err
		}
		sn.Metadata = *u.Metadata
	}
	if u.ClearKeptUntil {
		sn.KeptUntil = nil
	} else if u.KeptUntil != nil {
		kt := u.KeptUntil.UTC()
		sn.KeptUntil = &kt
	}
	sn.Updated = s.o.Now().UTC()
	if err := s.store.UpdateSnapshot(ctx, sn, *s.event(p, sn.ProjectID, "snapshot.update", "snapshot", sn.ID, nil)); err != nil {
		return Snapshot{}, fmt.Errorf("update snapshot %s: %w", id, err)
	}
	return sn, nil
}

// DeleteSnapshot queues deletion; its read-only exports are revoked.
func (s *Service) DeleteSnapshot(ctx context.Context, p identity.Principal, id string) (jobs.Job, error) {
	sn, err := s.writableSnapshot(ctx, p, id)
	if err != nil {
		return jobs.Job{}, err
	}
	return s.deleteSnapshot(ctx, sn, s.event(p, sn.ProjectID, "snapshot.delete", "snapshot", sn.ID, nil))
}

func (s *Service) deleteSnapshot(ctx context.Context, sn Snapshot, ev *Event) (jobs.Job, error) {
	allowed := []SnapshotStatus{SnapAvailable, SnapError}
	if !slices.Contains(allowed, sn.Status) {
		return jobs.Job{}, errs.E(errs.Conflict, "snapshot %s is %s; delete needs it to be available or error", sn.ID, sn.Status)
	}
	j, err := jobs.New(jobSnapshotDelete, sn.ProjectID, "snapshot", sn.ID, struct{}{}, s.o.Now())
	if err != nil {
		return jobs.Job{}, err
	}
	err = s.apply(ctx, Intent{ProjectID: sn.ProjectID, SnapshotID: sn.ID, SnapFrom: allowed, SnapTo: SnapDeleting, Job: &j, Event: ev})
	if err != nil {
		return jobs.Job{}, fmt.Errorf("delete snapshot %s: %w", sn.ID, err)
	}
	return j, nil
}

// RevertVolume puts a detached volume back to a snapshot of it. The data is
// swapped for a clone of the snapshot (grown to the volume's size), so the
// snapshot and other snapshots stay intact.
func (s *Service) RevertVolume(ctx context.Context, p identity.Principal, volumeID, snapshotID string) (Volume, jobs.Job, error) {
	v, err := s.writable(ctx, p, volumeID)
	if err != nil {
		return Volume{}, jobs.Job{}, err
	}
	sn, err := s.store.GetSnapshot(ctx, p.Scope(), snapshotID)
	if err != nil {
		return Volume{}, jobs.Job{}, fieldNotFound(err, "snapshot_id", "snapshot", snapshotID)
	}
	if sn.VolumeID != v.ID {
		return Volume{}, jobs.Job{}, errs.Field("snapshot_id", "snapshot %s is not of volume %s", sn.ID, v.ID)
	}
	if sn.Status != SnapAvailable {
		return Volume{}, jobs.Job{}, errs.E(errs.Conflict, "snapshot %s is %s; revert needs it to be available", sn.ID, sn.Status)
	}
	allowed := []Status{Available}
	if v.Status != Available {
		return Volume{}, jobs.Job{}, conflict("volume", v.ID, v.Status, "revert", allowed)
	}
	now := s.o.Now().UTC()
	newBackend := v.ID + "." + NewID()
	j, err := jobs.New(jobRevert, v.ProjectID, "volume", v.ID,
		revertPayload{SnapshotBackend: sn.BackendID, OldBackend: v.BackendID, NewBackend: newBackend, Size: v.Size}, now)
	if err != nil {
		return Volume{}, jobs.Job{}, err
	}
	err = s.apply(ctx, Intent{ProjectID: v.ProjectID, VolumeID: v.ID, From: allowed, To: Restoring,
		SnapshotID: sn.ID, SnapFrom: []SnapshotStatus{SnapAvailable}, RestoredTo: v.ID, Job: &j,
		Event: s.event(p, v.ProjectID, "volume.revert", "volume", v.ID, map[string]any{"snapshot_id": sn.ID})})
	if err != nil {
		return Volume{}, jobs.Job{}, fmt.Errorf("revert volume %s: %w", v.ID, err)
	}
	v.Status = Restoring
	return v, j, nil
}

// ExpireSnapshots queues deletion of snapshots past kept_until; the
// retention job calls it periodically.
func (s *Service) ExpireSnapshots(ctx context.Context) (int, error) {
	list, err := s.store.ExpiredSnapshots(ctx, s.o.Now(), 100)
	if err != nil {
		return 0, fmt.Errorf("expired snapshots: %w", err)
	}
	n := 0
	for _, sn := range list {
		ev := &Event{ID: NewID(), ProjectID: sn.ProjectID, Action: "snapshot.expire", ResourceType: "snapshot", ResourceID: sn.ID,
			Created: s.o.Now().UTC()}
		if _, err := s.deleteSnapshot(ctx, sn, ev); err != nil {
			if errs.Is(err, errs.Conflict) {
				continue
			}
			return n, err
		}
		n++
	}
	return n, nil
}
