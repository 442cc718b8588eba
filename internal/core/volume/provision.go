package volume

import (
	"context"
	"fmt"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
)

// gib is the unit of a volume offering's storage component.
const gib = 1 << 30

// Provisioner fulfils block-volume orders: a Create order makes a volume of
// the offering's type, Update grows it, Terminate deletes it. Each step
// waits for the volume's own job by answering "not ready" (retried with
// backoff) rather than blocking a runner worker.
func (s *Service) Provisioner() marketplace.Provisioner { return provisioner{s} }

type provisioner struct{ s *Service }

var errNotReady = errs.E(errs.Unavailable, "the volume is still being prepared")

// actor acts for the marketplace inside the order's project.
func actor(projectID string) identity.Principal {
	return identity.Principal{User: identity.User{Username: "marketplace", Staff: true, Active: true}, BoundProject: projectID}
}

// orderTag marks the volume made for a marketplace resource, so a re-run
// after a crash finds it instead of making another.
func orderTag(resourceID string) string { return "marketplace-resource:" + resourceID }

func (p provisioner) find(ctx context.Context, r marketplace.Resource) (Volume, bool, error) {
	res, err := p.s.ListVolumes(ctx, actor(r.ProjectID), Filter{ProjectID: r.ProjectID, Tag: orderTag(r.ID)}, page.Request{Limit: 1})
	if err != nil || len(res.Items) == 0 {
		return Volume{}, false, err
	}
	return res.Items[0], true, nil
}

func (p provisioner) Create(ctx context.Context, r marketplace.Resource, o marketplace.Offering) (marketplace.Scope, error) {
	v, found, err := p.find(ctx, r)
	if err != nil {
		return marketplace.Scope{}, err
	}
	if !found {
		gb := r.Limits["storage"]
		if gb <= 0 {
			return marketplace.Scope{}, errs.Field("limits", "a volume order needs limits.storage in GB")
		}
		desc, _ := r.Attributes["description"].(string)
		v, _, err = p.s.CreateVolume(ctx, actor(r.ProjectID), Create{ProjectID: r.ProjectID, Name: r.Name, Description: desc,
			Size: gb * gib, Type: o.VolumeType, Tags: []string{orderTag(r.ID)}})
		if err != nil {
			return marketplace.Scope{}, fmt.Errorf("create volume for order: %w", err)
		}
	}
	switch v.Status {
	case Available, InUse:
		return marketplace.Scope{Type: string(marketplace.KindVolume), ID: v.ID}, nil
	case Error:
		return marketplace.Scope{}, errs.E(errs.Conflict, "volume %s failed: %s", v.ID, v.Error)
	}
	return marketplace.Scope{}, errNotReady
}

func (p provisioner) Update(ctx context.Context, r marketplace.Resource, o marketplace.Offering, limits map[string]int64) error {
	v, err := p.s.GetVolume(ctx, actor(r.ProjectID), r.ScopeID)
	if err != nil {
		return err
	}
	size := limits["storage"] * gib
	switch {
	case v.Size == size && (v.Status == Available || v.Status == InUse):
		return nil
	case v.Status == Resizing:
		return errNotReady
	case v.Size > size:
		return errs.E(errs.Conflict, "volumes only grow: %d GB is below the current %d GB", limits["storage"], v.Size/gib)
	}
	if _, _, err := p.s.ExtendVolume(ctx, actor(r.ProjectID), v.ID, size); err != nil {
		return err
	}
	return errNotReady
}

func (p provisioner) Terminate(ctx context.Context, r marketplace.Resource, o marketplace.Offering) error {
	v, err := p.s.GetVolume(ctx, actor(r.ProjectID), r.ScopeID)
	if errs.Is(err, errs.NotExist) || r.ScopeID == "" {
		return nil
	}
	if err != nil {
		return err
	}
	if v.Status != Deleting {
		if _, err := p.s.DeleteVolume(ctx, actor(r.ProjectID), v.ID, false); err != nil {
			return err
		}
	}
	return errNotReady
}
