package volume

import (
	"context"
	"fmt"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
)

// Quota returns a visible project's limits and usage.
func (s *Service) Quota(ctx context.Context, p identity.Principal, projectID string) (Limits, Usage, error) {
	if _, err := s.projects.GetProject(ctx, p, projectID); err != nil {
		return Limits{}, Usage{}, err
	}
	return s.store.GetQuota(ctx, projectID)
}

// SetQuota is for staff. Lowering a limit below usage is allowed: it stops
// new reservations without touching what exists.
func (s *Service) SetQuota(ctx context.Context, p identity.Principal, projectID string, l Limits) (Limits, Usage, error) {
	if _, err := s.projects.GetProject(ctx, p, projectID); err != nil {
		return Limits{}, Usage{}, err
	}
	if !p.User.Staff || (p.BoundProject != "" && p.BoundProject != projectID) {
		return Limits{}, Usage{}, errs.E(errs.Permission, "only staff may set quotas")
	}
	for name, v := range map[string]*int64{"storage_bytes": l.StorageBytes, "volumes": l.Volumes, "snapshots": l.Snapshots} {
		if v != nil && *v < 0 {
			return Limits{}, Usage{}, errs.Field(name, "%s must not be negative; use null for unlimited", name)
		}
	}
	ev := s.event(p, projectID, "quota.set", "project", projectID, map[string]any{
		"storage_bytes": l.StorageBytes, "volumes": l.Volumes, "snapshots": l.Snapshots})
	if err := s.store.SetQuota(ctx, projectID, l, *ev); err != nil {
		return Limits{}, Usage{}, fmt.Errorf("set quota of project %s: %w", projectID, err)
	}
	return s.store.GetQuota(ctx, projectID)
}

// Events lists the audit log visible to the caller.
func (s *Service) Events(ctx context.Context, p identity.Principal, f EventFilter, r page.Request) (page.Result[Event], error) {
	r = r.Normalize()
	rows, err := s.store.ListEvents(ctx, p.Scope(), f, page.Request{Limit: r.Limit + 1, After: r.After})
	if err != nil {
		return page.Result[Event]{}, fmt.Errorf("list events: %w", err)
	}
	return page.Make(rows, r, func(e Event) string { return e.ID }), nil
}
