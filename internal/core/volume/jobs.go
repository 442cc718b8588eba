package volume

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
)

// Job kinds. Each handler reloads the resource and does nothing when it has
// already moved on, so a step re-run after a crash converges.
const (
	jobCreate         = "volume.create"
	jobDelete         = "volume.delete"
	jobExtend         = "volume.extend"
	jobAttach         = "volume.attach"
	jobDetach         = "volume.detach"
	jobRevert         = "volume.revert"
	jobSnapshot       = "snapshot.create"
	jobSnapshotDelete = "snapshot.delete"
	jobFlatten        = "volume.flatten"
)

type createPayload struct {
	SourceBackend string     `json:"source_backend,omitempty"`
	Kind          string     `json:"kind"`
	Object        *ObjectRef `json:"object,omitempty"`
	Backup        *BackupRef `json:"backup,omitempty"`
}

type extendPayload struct {
	Size int64  `json:"size"`
	Back Status `json:"back"`
}

type attachPayload struct {
	AttachmentID string `json:"attachment_id"`
	ExportName   string `json:"export_name,omitempty"`
}

type snapshotPayload struct {
	SourceBackend string `json:"source_backend"`
}

type revertPayload struct {
	SnapshotBackend string `json:"snapshot_backend,omitempty"`
	// Backup, instead of a snapshot, is restored into the new data.
	Backup     *BackupRef `json:"backup,omitempty"`
	OldBackend string     `json:"old_backend"`
	NewBackend string     `json:"new_backend"`
	Size       int64      `json:"size"`
}

// Registrations returns the job handlers the runner must know.
func (s *Service) Registrations() []jobs.Registration {
	volFail := func(ctx context.Context, j jobs.Job, err error) error {
		return s.store.SetVolumeStatus(ctx, j.ResourceID, nil, Error, errs.Message(err))
	}
	snapFail := func(ctx context.Context, j jobs.Job, err error) error {
		return s.store.SetSnapshotStatus(ctx, j.ResourceID, nil, SnapError)
	}
	return []jobs.Registration{
		{Kind: jobCreate, Handle: s.runCreate, OnFailure: volFail},
		{Kind: jobDelete, Handle: s.runDelete, OnFailure: volFail},
		{Kind: jobExtend, Handle: s.runExtend, OnFailure: volFail},
		{Kind: jobAttach, Handle: s.runAttach, OnFailure: volFail},
		{Kind: jobDetach, Handle: s.runDetach, OnFailure: volFail},
		{Kind: jobRevert, Handle: s.runRevert, OnFailure: func(ctx context.Context, j jobs.Job, err error) error {
			if back, rerr := s.revertBack(ctx, j); back || rerr != nil {
				return rerr
			}
			return volFail(ctx, j, err)
		}},
		{Kind: jobSnapshot, Handle: s.runSnapshot, OnFailure: snapFail},
		{Kind: jobSnapshotDelete, Handle: s.runSnapshotDelete, OnFailure: snapFail},
		// A failed flatten leaves a usable volume whose reads walk a
		// longer chain: no error state.
		{Kind: jobFlatten, Handle: s.runFlatten},
	}
}

func decode(j jobs.Job, dst any) error {
	if err := json.Unmarshal(j.Payload, dst); err != nil {
		return errs.Wrap(errs.Invalid, "job payload is malformed", err)
	}
	return nil
}

// loadVolume returns ok=false when the volume is gone, which ends the job.
func (s *Service) loadVolume(ctx context.Context, id string) (Volume, bool, error) {
	v, err := s.store.GetVolume(ctx, access.System, id)
	if errs.Is(err, errs.NotExist) {
		return Volume{}, false, nil
	}
	if err != nil {
		return Volume{}, false, err
	}
	return v, true, nil
}

func (s *Service) runCreate(ctx context.Context, j jobs.Job) (any, error) {
	var pl createPayload
	if err := decode(j, &pl); err != nil {
		return nil, err
	}
	v, ok, err := s.loadVolume(ctx, j.ResourceID)
	if err != nil || !ok || (v.Status != Creating && v.Status != Cloning) {
		return nil, err
	}
	switch {
	case pl.Kind == KindFilesystem:
		if err := s.files().Create(ctx, v.BackendID, v.Size); err != nil {
			return nil, err
		}
	case pl.SourceBackend != "":
		if err := s.backend.Clone(ctx, pl.SourceBackend, v.BackendID); err != nil {
			return nil, err
		}
		if err := s.backend.Grow(ctx, v.BackendID, v.Size); err != nil {
			return nil, err
		}
		if err := s.queueFlatten(ctx, v); err != nil {
			return nil, err
		}
	default:
		if err := s.backend.Create(ctx, v.BackendID, v.Size); err != nil {
			return nil, err
		}
		// Both write only data into the new thin volume, so a step run
		// again after a crash writes the same bytes again.
		if pl.Object != nil {
			if err := s.importObject(ctx, v, *pl.Object); err != nil {
				return nil, err
			}
		}
		if pl.Backup != nil {
			if err := s.restoreBackup(ctx, v.ProjectID, v.BackendID, *pl.Backup); err != nil {
				return nil, err
			}
		}
	}
	return nil, s.store.SetVolumeStatus(ctx, v.ID, []Status{Creating, Cloning}, Available, "")
}

func (s *Service) runDelete(ctx context.Context, j jobs.Job) (any, error) {
	v, ok, err := s.loadVolume(ctx, j.ResourceID)
	if err != nil || !ok {
		return nil, err
	}
	if v.Status != Deleting {
		return nil, errs.E(errs.Conflict, "volume %s is %s, not deleting", v.ID, v.Status)
	}
	// The exports stopped resolving when the volume became deleting; drop
	// the clients still connected before the data goes.
	for _, a := range v.Attachments {
		s.revoke(ctx, a.ExportName)
	}
	del := s.backend.Delete
	if s.isFilesystem(v) {
		del = s.files().Delete
	}
	if err := del(ctx, v.BackendID); err != nil {
		return nil, err
	}
	// The snapshot the last backup left for the next one goes too; the
	// backups themselves stay in their bucket.
	if err := s.dropBackupBases(ctx, v.BackendID, ""); err != nil {
		return nil, err
	}
	return nil, s.store.RemoveVolume(ctx, v.ID)
}

func (s *Service) runExtend(ctx context.Context, j jobs.Job) (any, error) {
	var pl extendPayload
	if err := decode(j, &pl); err != nil {
		return nil, err
	}
	v, ok, err := s.loadVolume(ctx, j.ResourceID)
	if err != nil || !ok || v.Status != Resizing {
		return nil, err
	}
	grow := s.backend.Grow
	if s.isFilesystem(v) {
		grow = s.files().Grow
	}
	if err := grow(ctx, v.BackendID, pl.Size); err != nil {
		return nil, err
	}
	back := pl.Back
	if back == InUse && len(v.Attachments) == 0 {
		back = Available
	}
	return nil, s.store.SetVolumeStatus(ctx, v.ID, []Status{Resizing}, back, "")
}

func (s *Service) runAttach(ctx context.Context, j jobs.Job) (any, error) {
	var pl attachPayload
	if err := decode(j, &pl); err != nil {
		return nil, err
	}
	v, ok, err := s.loadVolume(ctx, j.ResourceID)
	if err != nil || !ok || v.Status != Attaching {
		return nil, err
	}
	// The data must exist before a hypervisor is told it can connect.
	if _, _, err := s.usage(ctx, v); err != nil {
		return nil, err
	}
	return nil, s.store.CompleteAttach(ctx, pl.AttachmentID)
}

func (s *Service) runDetach(ctx context.Context, j jobs.Job) (any, error) {
	var pl attachPayload
	if err := decode(j, &pl); err != nil {
		return nil, err
	}
	s.revoke(ctx, pl.ExportName)
	return nil, s.store.CompleteDetach(ctx, j.ResourceID, pl.AttachmentID)
}

func (s *Service) runRevert(ctx context.Context, j jobs.Job) (any, error) {
	var pl revertPayload
	if err := decode(j, &pl); err != nil {
		return nil, err
	}
	v, ok, err := s.loadVolume(ctx, j.ResourceID)
	if err != nil || !ok {
		return nil, err
	}
	if v.Status == Restoring {
		if pl.Backup != nil {
			// The restore writes only the backup's data into new thin
			// data, so a step run again after a crash writes the same.
			if err := s.backend.Create(ctx, pl.NewBackend, pl.Size); err != nil {
				return nil, err
			}
			if err := s.restoreBackup(ctx, v.ProjectID, pl.NewBackend, *pl.Backup); err != nil {
				return nil, err
			}
		} else if err := s.revertClone(ctx, v, pl); err != nil {
			return nil, err
		}
		if err := s.store.SetVolumeBackend(ctx, v.ID, pl.NewBackend, pl.Size); err != nil {
			return nil, err
		}
	} else if v.BackendID != pl.NewBackend {
		return nil, nil
	}
	// The old data's backup base goes with it: the next backup is full.
	if err := s.dropBackupBases(ctx, pl.OldBackend, ""); err != nil {
		return nil, err
	}
	return nil, s.backend.Delete(ctx, pl.OldBackend)
}

// revertBack ends a failed revert to a backup as if it had not been
// asked: its new data, never swapped in, goes, and the volume is available
// on its own data again (a bucket that failed for good must not cost the
// volume). It reports whether it did.
func (s *Service) revertBack(ctx context.Context, j jobs.Job) (bool, error) {
	var pl revertPayload
	if err := decode(j, &pl); err != nil || pl.Backup == nil {
		return false, nil
	}
	v, ok, err := s.loadVolume(ctx, j.ResourceID)
	if err != nil || !ok || v.Status != Restoring || v.BackendID != pl.OldBackend {
		return false, err
	}
	if err := s.backend.Delete(ctx, pl.NewBackend); err != nil {
		return false, err
	}
	return true, s.store.SetVolumeStatus(ctx, v.ID, []Status{Restoring}, Available, "")
}

// revertClone makes a revert's new data as a clone of the snapshot.
func (s *Service) revertClone(ctx context.Context, v Volume, pl revertPayload) error {
	if err := s.backend.Clone(ctx, pl.SnapshotBackend, pl.NewBackend); err != nil {
		return err
	}
	if err := s.backend.Grow(ctx, pl.NewBackend, pl.Size); err != nil {
		return err
	}
	return s.queueFlatten(ctx, v)
}

// queueFlatten queues the flatten of v's clone on a backend that needs
// it. It comes before the step that ends the clone's job, so a crash in
// between queues it again (a flatten of a flat clone does nothing).
func (s *Service) queueFlatten(ctx context.Context, v Volume) error {
	if _, ok := s.backend.(Flattener); !ok {
		return nil
	}
	j, err := jobs.New(jobFlatten, v.ProjectID, "volume", v.ID, struct{}{}, s.o.Now())
	if err != nil {
		return err
	}
	return s.apply(ctx, Intent{ProjectID: v.ProjectID, Job: &j})
}

// runFlatten flattens the volume's current data (after a revert, the
// clone swapped in) unless the volume is going or changing.
func (s *Service) runFlatten(ctx context.Context, j jobs.Job) (any, error) {
	f, ok := s.backend.(Flattener)
	if !ok {
		return nil, nil
	}
	v, ok, err := s.loadVolume(ctx, j.ResourceID)
	if err != nil || !ok || !slices.Contains([]Status{Creating, Cloning, Available, InUse}, v.Status) {
		return nil, err
	}
	if err := f.Flatten(ctx, v.BackendID); err != nil && !errs.Is(err, errs.NotExist) {
		return nil, err
	}
	return nil, nil
}

func (s *Service) runSnapshot(ctx context.Context, j jobs.Job) (any, error) {
	var pl snapshotPayload
	if err := decode(j, &pl); err != nil {
		return nil, err
	}
	sn, err := s.store.GetSnapshot(ctx, access.System, j.ResourceID)
	if errs.Is(err, errs.NotExist) {
		return nil, nil
	}
	if err != nil || sn.Status != SnapCreating {
		return nil, err
	}
	if err := s.backend.Snapshot(ctx, pl.SourceBackend, sn.BackendID); err != nil {
		return nil, err
	}
	return nil, s.store.SetSnapshotStatus(ctx, sn.ID, []SnapshotStatus{SnapCreating}, SnapAvailable)
}

func (s *Service) runSnapshotDelete(ctx context.Context, j jobs.Job) (any, error) {
	sn, err := s.store.GetSnapshot(ctx, access.System, j.ResourceID)
	if errs.Is(err, errs.NotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	as, err := s.store.ListAttachments(ctx, "", sn.ID)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if err := s.store.RemoveAttachment(ctx, a.ID, nil); err != nil {
			return nil, err
		}
		s.revoke(ctx, a.ExportName)
	}
	if err := s.backend.Delete(ctx, sn.BackendID); err != nil {
		return nil, err
	}
	return nil, s.store.RemoveSnapshot(ctx, sn.ID)
}

// files is the filesystem store; CreateVolume refuses filesystem volumes
// on a node without one, so jobs only reach here when it exists.
func (s *Service) files() Files { return s.o.Files }

func (s *Service) isFilesystem(v Volume) bool {
	t, err := s.catalog.Type(v.Type)
	return err == nil && t.Kind == KindFilesystem
}

// usage asks the volume's data plane what its data holds: allocated and
// exclusive bytes of a block volume, the file bytes (twice) of a
// filesystem.
func (s *Service) usage(ctx context.Context, v Volume) (int64, int64, error) {
	if s.isFilesystem(v) {
		used, _, err := s.files().Usage(ctx, v.BackendID)
		return used, used, err
	}
	return s.backend.Usage(ctx, v.BackendID)
}

// Allocation reports the bytes a volume's data holds; zero when it has
// none yet.
func (s *Service) Allocation(ctx context.Context, v Volume) (allocated, exclusive int64) {
	a, e, err := s.usage(ctx, v)
	if err != nil {
		return 0, 0
	}
	return a, e
}

// MeasureSnapshots refreshes every snapshot's exclusive bytes. A snapshot
// starts sharing all its data with its volume and gains exclusive bytes
// as the volume is overwritten, so usage must be measured, not reserved.
func (s *Service) MeasureSnapshots(ctx context.Context) error {
	r := page.Request{Limit: page.MaxLimit}
	for {
		list, err := s.store.ListSnapshots(ctx, access.System, SnapshotFilter{Status: SnapAvailable}, r)
		if err != nil {
			return fmt.Errorf("measure snapshots: %w", err)
		}
		for _, sn := range list {
			_, excl, err := s.backend.Usage(ctx, sn.BackendID)
			if errs.Is(err, errs.NotExist) {
				continue // deleted meanwhile
			}
			if err != nil {
				return fmt.Errorf("measure snapshot %s: %w", sn.ID, err)
			}
			if err := s.store.SetSnapshotExclusive(ctx, sn.ID, excl); err != nil {
				return fmt.Errorf("measure snapshot %s: %w", sn.ID, err)
			}
		}
		if len(list) < r.Limit {
			return nil
		}
		r.After = list[len(list)-1].ID
	}
}

// RunRetention deletes expired snapshots, measures the others and queues
// the backups policies make due, every interval until ctx ends.
func (s *Service) RunRetention(ctx context.Context, every time.Duration, logf func(msg string, args ...any)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.ExpireSnapshots(ctx); err != nil && ctx.Err() == nil {
			logf("snapshot retention", "err", fmt.Sprint(err))
		} else if n > 0 {
			logf("snapshot retention queued deletions", "count", n)
		}
		if err := s.MeasureSnapshots(ctx); err != nil && ctx.Err() == nil {
			logf("snapshot usage", "err", fmt.Sprint(err))
		}
		if _, err := s.RunBackupPolicies(ctx); err != nil && ctx.Err() == nil {
			logf("backup policies", "err", fmt.Sprint(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
