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

// orderSpec reads the volume a Create order asks for. The attributes are
// those of Waldur's OpenStack.Volume offering: size in MiB, type and
// availability_zone by name (a dialect resolves its own references to
// names), description. Clients that order by limit give limits.storage in
// GiB instead of a size.
func (p provisioner) orderSpec(o marketplace.Offering, attrs map[string]any, limits map[string]int64) (Create, error) {
	c := Create{Type: o.VolumeType}
	if raw, ok := attrs["size"]; ok && raw != nil {
		mib, ok := wholeNumber(raw)
		if !ok || mib < 1 {
			return Create{}, errs.Field("attributes", "attributes.size must be a positive whole number of MiB")
		}
		c.Size = mib << 20
	} else if gb := limits["storage"]; gb > 0 {
		c.Size = gb * gib
	} else {
		return Create{}, errs.Field("attributes", "a volume order needs attributes.size in MiB or limits.storage in GB")
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"type", &c.Type}, {"availability_zone", &c.Zone}, {"description", &c.Description}} {
		switch v := attrs[f.name].(type) {
		case nil:
		case string:
			if v != "" {
				*f.dst = v
			}
		default:
			return Create{}, errs.Field("attributes", "attributes.%s must be a string", f.name)
		}
	}
	t, err := p.s.catalog.Type(c.Type)
	if err != nil {
		return Create{}, errs.Field("attributes", "%s", errs.Message(err))
	}
	if t.Kind != KindBlock {
		return Create{}, errs.Field("attributes", "a %s volume cannot be ordered as a block volume", t.Name)
	}
	if c.Zone, err = p.s.catalog.Zone(c.Zone); err != nil {
		return Create{}, errs.Field("attributes", "%s", errs.Message(err))
	}
	if err := t.checkSize(c.Size); err != nil {
		return Create{}, errs.Field("attributes", "%s", errs.Message(err))
	}
	return c, nil
}

// wholeNumber reads an integer attribute, which JSON gives as a float.
func wholeNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		return int64(n), n == float64(int64(n)) && n < 1<<43
	case int64:
		return n, true
	case int:
		return int64(n), true
	}
	return 0, false
}

// Check refuses, when the order is placed, a Create order this provisioner
// could not fulfil.
func (p provisioner) Check(_ context.Context, o marketplace.Offering, attrs map[string]any, limits map[string]int64) error {
	_, err := p.orderSpec(o, attrs, limits)
	return err
}

func (p provisioner) Create(ctx context.Context, r marketplace.Resource, o marketplace.Offering) (marketplace.Scope, error) {
	v, found, err := p.find(ctx, r)
	if err != nil {
		return marketplace.Scope{}, err
	}
	if !found {
		c, err := p.orderSpec(o, r.Attributes, r.Limits)
		if err != nil {
			return marketplace.Scope{}, err
		}
		c.ProjectID, c.Name, c.Tags = r.ProjectID, r.Name, []string{orderTag(r.ID)}
		v, _, err = p.s.CreateVolume(ctx, actor(r.ProjectID), c)
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
