package volume

import (
	"context"
	"fmt"
	"slices"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
)

// Attach connects a volume to an instance of the same project. The export
// it names is served once the job has marked the attachment attached.
func (s *Service) Attach(ctx context.Context, p identity.Principal, volumeID, instanceID string) (Attachment, jobs.Job, error) {
	v, err := s.writable(ctx, p, volumeID)
	if err != nil {
		return Attachment{}, jobs.Job{}, err
	}
	in, err := s.store.GetInstance(ctx, p.Scope(), instanceID)
	if err != nil {
		return Attachment{}, jobs.Job{}, fieldNotFound(err, "instance_id", "instance", instanceID)
	}
	if in.ProjectID != v.ProjectID {
		return Attachment{}, jobs.Job{}, errs.Field("instance_id", "instance %s belongs to another project than volume %s", in.ID, v.ID)
	}
	t, err := s.catalog.Type(v.Type)
	if err != nil {
		return Attachment{}, jobs.Job{}, err
	}
	for _, a := range v.Attachments {
		if a.InstanceID == in.ID {
			return Attachment{}, jobs.Job{}, errs.E(errs.Conflict, "volume %s is already attached to instance %s", v.ID, in.ID)
		}
	}
	allowed := []Status{Available}
	if v.MultiAttach {
		allowed = []Status{Available, InUse, Attaching}
	}
	if !slices.Contains(allowed, v.Status) {
		err := conflict("volume", v.ID, v.Status, "attach", allowed)
		if v.Status == InUse {
			err = errs.E(errs.Conflict, "%s; volume %s is not multi-attach", errs.Message(err), v.ID)
		}
		return Attachment{}, jobs.Job{}, err
	}
	now := s.o.Now().UTC()
	a := Attachment{ID: NewID(), ProjectID: v.ProjectID, VolumeID: v.ID, InstanceID: in.ID, ExportName: newExportName(t.Kind),
		State: AttAttaching, Created: now}
	j, err := jobs.New(jobAttach, v.ProjectID, "volume", v.ID, attachPayload{AttachmentID: a.ID}, now)
	if err != nil {
		return Attachment{}, jobs.Job{}, err
	}
	err = s.apply(ctx, Intent{ProjectID: v.ProjectID, VolumeID: v.ID, From: allowed, To: Attaching, NewAttachment: &a, Job: &j,
		Event: s.event(p, v.ProjectID, "volume.attach", "volume", v.ID, map[string]any{"instance_id": in.ID, "attachment_id": a.ID})})
	if err != nil {
		return Attachment{}, jobs.Job{}, fmt.Errorf("attach volume %s: %w", v.ID, err)
	}
	return a, j, nil
}

// Detach disconnects a volume from an instance (or from its only one when
// instanceID is empty). The export stops resolving at once; the job
// disconnects clients still connected and removes the attachment.
func (s *Service) Detach(ctx context.Context, p identity.Principal, volumeID, instanceID string) (jobs.Job, error) {
	v, err := s.writable(ctx, p, volumeID)
	if err != nil {
		return jobs.Job{}, err
	}
	var att *Attachment
	for i, a := range v.Attachments {
		if a.InstanceID != "" && (a.InstanceID == instanceID || instanceID == "") {
			if att != nil {
				return jobs.Job{}, errs.Field("instance_id", "volume %s has several attachments; name the instance", v.ID)
			}
			att = &v.Attachments[i]
		}
	}
	if att == nil {
		if instanceID == "" {
			return jobs.Job{}, errs.E(errs.Conflict, "volume %s is %s and not attached to any instance", v.ID, v.Status)
		}
		return jobs.Job{}, errs.E(errs.Conflict, "volume %s is not attached to instance %s", v.ID, instanceID)
	}
	allowed := []Status{InUse}
	if v.Status != InUse || att.State != AttAttached {
		return jobs.Job{}, conflict("volume", v.ID, v.Status, "detach", allowed)
	}
	j, err := jobs.New(jobDetach, v.ProjectID, "volume", v.ID, attachPayload{AttachmentID: att.ID, ExportName: att.ExportName}, s.o.Now())
	if err != nil {
		return jobs.Job{}, err
	}
	err = s.apply(ctx, Intent{ProjectID: v.ProjectID, VolumeID: v.ID, From: allowed, To: Detaching, DetachID: att.ID, Job: &j,
		Event: s.event(p, v.ProjectID, "volume.detach", "volume", v.ID, map[string]any{"instance_id": att.InstanceID, "attachment_id": att.ID})})
	if err != nil {
		return jobs.Job{}, fmt.Errorf("detach volume %s: %w", v.ID, err)
	}
	return j, nil
}

// ExportSnapshot serves a snapshot read-only under a new unguessable name
// until UnexportSnapshot. No data moves, so there is no job.
func (s *Service) ExportSnapshot(ctx context.Context, p identity.Principal, snapshotID string) (Attachment, error) {
	sn, err := s.writableSnapshot(ctx, p, snapshotID)
	if err != nil {
		return Attachment{}, err
	}
	if sn.Status != SnapAvailable {
		return Attachment{}, errs.E(errs.Conflict, "snapshot %s is %s; exporting needs it to be available", sn.ID, sn.Status)
	}
	a := Attachment{ID: NewID(), ProjectID: sn.ProjectID, VolumeID: sn.VolumeID, SnapshotID: sn.ID, ExportName: newExportName(KindBlock),
		ReadOnly: true, State: AttAttached, Created: s.o.Now().UTC()}
	if err := s.store.CreateExport(ctx, a, *s.event(p, sn.ProjectID, "snapshot.export", "snapshot", sn.ID, map[string]any{"attachment_id": a.ID})); err != nil {
		return Attachment{}, fmt.Errorf("export snapshot %s: %w", sn.ID, err)
	}
	return a, nil
}

// SnapshotExports lists a snapshot's read-only exports (their names only
// for those who may attach).
func (s *Service) SnapshotExports(ctx context.Context, p identity.Principal, snapshotID string) ([]Attachment, error) {
	sn, err := s.store.GetSnapshot(ctx, p.Scope(), snapshotID)
	if err != nil {
		return nil, err
	}
	as, err := s.store.ListAttachments(ctx, "", sn.ID)
	if err != nil {
		return nil, err
	}
	return as, s.exportReader(p).redact(ctx, as)
}

// UnexportSnapshot revokes a read-only export and disconnects its clients.
func (s *Service) UnexportSnapshot(ctx context.Context, p identity.Principal, snapshotID, exportID string) error {
	sn, err := s.writableSnapshot(ctx, p, snapshotID)
	if err != nil {
		return err
	}
	as, err := s.store.ListAttachments(ctx, "", sn.ID)
	if err != nil {
		return err
	}
	for _, a := range as {
		if a.ID == exportID {
			ev := s.event(p, sn.ProjectID, "snapshot.unexport", "snapshot", sn.ID, map[string]any{"attachment_id": a.ID})
			if err := s.store.RemoveAttachment(ctx, a.ID, ev); err != nil {
				return err
			}
			s.revoke(ctx, a.ExportName)
			return nil
		}
	}
	return errs.E(errs.NotExist, "export %s of snapshot %s not found", exportID, sn.ID)
}

func (s *Service) revoke(ctx context.Context, name string) {
	if s.exports != nil {
		s.exports.Revoke(ctx, name)
	}
}

// ResolveExport is the data planes' question: which data does this
// export name serve, and of which kind? Only attachments in state
// attached resolve; anything else is errs.NotExist, so names being
// detached stop working at once.
func (s *Service) ResolveExport(ctx context.Context, name string) (Export, error) {
	e, err := s.store.ExportByName(ctx, name)
	if err != nil {
		return Export{}, err
	}
	e.Kind = KindBlock
	if e.Type != "" {
		t, err := s.catalog.Type(e.Type)
		if err != nil {
			return Export{}, err
		}
		e.Kind, e.IOPS, e.MBps = t.Kind, t.IOPS, t.MBps
	}
	e.AllowRoot = e.Metadata[MetaNFSAllowRoot] == "true"
	return e, nil
}
