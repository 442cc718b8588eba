package volume

import (
	"context"
	"fmt"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
)

// Images are the operator's public images (CloudSigma's library drives):
// snapshots of staff volumes marked public. Staff publish and unpublish
// them; every tenant lists them and clones volumes from them into their own
// projects. The pool knows no projects, so such a clone is the same O(1)
// copy-on-write branch as any other, and the image stays read-only.

// ImageCreate holds what a new image may be given.
type ImageCreate struct {
	Name        string
	Description string
	Metadata    map[string]string
}

func requireStaff(p identity.Principal, op string) error {
	if !p.User.Staff {
		return errs.E(errs.Permission, "only staff may %s images", op)
	}
	return nil
}

// PublishImage records an image of a volume and queues the job that takes
// it; staff only.
func (s *Service) PublishImage(ctx context.Context, p identity.Principal, volumeID string, c ImageCreate) (Snapshot, jobs.Job, error) {
	if err := requireStaff(p, "publish"); err != nil {
		return Snapshot{}, jobs.Job{}, err
	}
	return s.createSnapshot(ctx, p, volumeID, SnapshotCreate{Name: c.Name, Description: c.Description, Metadata: c.Metadata}, true)
}

// GetImage returns an image to any caller.
func (s *Service) GetImage(ctx context.Context, p identity.Principal, id string) (Snapshot, error) {
	sn, err := s.store.GetSnapshot(ctx, access.System, id)
	if errs.Is(err, errs.NotExist) || (err == nil && !sn.Public) {
		return Snapshot{}, errs.E(errs.NotExist, "image %s not found", id)
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("get image %s: %w", id, err)
	}
	return sn, nil
}

// ListImages lists every image to any caller.
func (s *Service) ListImages(ctx context.Context, p identity.Principal, r page.Request) (page.Result[Snapshot], error) {
	r = r.Normalize()
	public := true
	rows, err := s.store.ListSnapshots(ctx, access.System, SnapshotFilter{Public: &public}, page.Request{Limit: r.Limit + 1, After: r.After})
	if err != nil {
		return page.Result[Snapshot]{}, fmt.Errorf("list images: %w", err)
	}
	return page.Make(rows, r, func(x Snapshot) string { return x.ID }), nil
}

// UnpublishImage queues the deletion of an image; staff only. Volumes
// cloned from it keep their data.
func (s *Service) UnpublishImage(ctx context.Context, p identity.Principal, id string) (jobs.Job, error) {
	if err := requireStaff(p, "unpublish"); err != nil {
		return jobs.Job{}, err
	}
	sn, err := s.GetImage(ctx, p, id)
	if err != nil {
		return jobs.Job{}, err
	}
	return s.deleteSnapshot(ctx, sn, s.event(p, sn.ProjectID, "image.unpublish", "snapshot", sn.ID, nil))
}
