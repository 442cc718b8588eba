package volume

import (
	"context"
	"fmt"
	"strings"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/errs"
)

// An export name is the only credential NBD and NFS clients present, so
// it is a capability: read-write access to the volume. It goes only to
// those who may attach (member and up); viewers see that a volume is
// attached, to which instance and in which state, but not the name. When
// someone stops being a member, every name of the project is replaced and
// clients of the old ones are cut off (TakeBack), so nothing they saw
// keeps working.

// Rename is one export name replaced by another.
type Rename struct {
	AttachmentID string
	Old, New     string
}

// exportReader answers, per project, whether p may see export names
// there, asking once per project.
type exportReader struct {
	s     *Service
	p     identity.Principal
	known map[string]bool
}

func (s *Service) exportReader(p identity.Principal) *exportReader {
	return &exportReader{s: s, p: p, known: map[string]bool{}}
}

func (r *exportReader) may(ctx context.Context, projectID string) (bool, error) {
	if ok, seen := r.known[projectID]; seen {
		return ok, nil
	}
	err := r.s.projects.RequireProjectRole(ctx, r.p, projectID, access.Member)
	if err != nil && !errs.Is(err, errs.Permission) && !errs.Is(err, errs.NotExist) {
		return false, err
	}
	r.known[projectID] = err == nil
	return err == nil, nil
}

// redact clears the export names p may not see.
func (r *exportReader) redact(ctx context.Context, as []Attachment) error {
	for i := range as {
		ok, err := r.may(ctx, as[i].ProjectID)
		if err != nil {
			return err
		}
		if !ok {
			as[i].ExportName = ""
		}
	}
	return nil
}

func (r *exportReader) redactVolumes(ctx context.Context, vs []Volume) error {
	for i := range vs {
		if err := r.redact(ctx, vs[i].Attachments); err != nil {
			return err
		}
	}
	return nil
}

// TakeBack is identity's AccessLost hook: the user could read every
// export name of the project, so each attachment and snapshot export gets
// a new name, recorded as an event, and clients still connected under an
// old name are disconnected, as on detach. Hypervisors that should keep
// their volumes read the new connection_info and reconnect. Running it
// again only renames once more.
func (s *Service) TakeBack(ctx context.Context, actorID, userID, projectID string) error {
	as, err := s.store.ProjectAttachments(ctx, projectID)
	if err != nil {
		return fmt.Errorf("take back export names: %w", err)
	}
	if len(as) == 0 {
		return nil
	}
	now := s.o.Now().UTC()
	renames := make([]Rename, 0, len(as))
	events := make([]Event, 0, len(as))
	for _, a := range as {
		kind := KindBlock
		if strings.HasPrefix(a.ExportName, NFSExportPrefix) {
			kind = KindFilesystem
		}
		renames = append(renames, Rename{AttachmentID: a.ID, Old: a.ExportName, New: newExportName(kind)})
		rtype, rid := "volume", a.VolumeID
		if a.SnapshotID != "" {
			rtype, rid = "snapshot", a.SnapshotID
		}
		events = append(events, Event{ID: NewID(), ProjectID: projectID, UserID: actorID, Action: rtype + ".export_rotate", ResourceType: rtype, ResourceID: rid,
			Detail: map[string]any{"attachment_id": a.ID, "user_id": userID, "reason": "a member who could read it left"}, Created: now})
	}
	if err := s.store.RenameExports(ctx, renames, events); err != nil {
		return fmt.Errorf("take back export names: %w", err)
	}
	for _, r := range renames {
		s.revoke(ctx, r.Old)
	}
	return nil
}
