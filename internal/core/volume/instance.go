package volume

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
)

func checkPower(s string) error {
	if s != Running && s != Stopped {
		return errs.Field("power_state", "power_state must be running or stopped")
	}
	return nil
}

// maxAddresses bounds an instance's client addresses.
const maxAddresses = 16

// checkAddresses turns client addresses (IPs or prefixes) into prefixes
// in canonical form.
func checkAddresses(in []string) ([]string, error) {
	if len(in) > maxAddresses {
		return nil, errs.Field("addresses", "at most %d addresses", maxAddresses)
	}
	out := make([]string, 0, len(in))
	for _, a := range in {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			ip, aerr := netip.ParseAddr(a)
			if aerr != nil {
				return nil, errs.Field("addresses", "%q is not an IP address or prefix", a)
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		out = append(out, p.Masked().String())
	}
	return out, nil
}

// CreateInstance records an attachment target and its client addresses.
func (s *Service) CreateInstance(ctx context.Context, p identity.Principal, projectID, name, description, power string, addresses []string) (Instance, error) {
	if projectID == "" {
		projectID = p.BoundProject
	}
	if projectID == "" {
		return Instance{}, errs.Field("project_id", "project_id is required")
	}
	if _, err := s.projects.GetProject(ctx, p, projectID); err != nil {
		return Instance{}, fieldNotFound(err, "project_id", "project", projectID)
	}
	if err := s.projects.RequireProjectRole(ctx, p, projectID, access.Member); err != nil {
		return Instance{}, err
	}
	if err := checkName(name); err != nil {
		return Instance{}, err
	}
	if err := checkDescription(description); err != nil {
		return Instance{}, err
	}
	if power == "" {
		power = Running
	}
	if err := checkPower(power); err != nil {
		return Instance{}, err
	}
	addrs, err := checkAddresses(addresses)
	if err != nil {
		return Instance{}, err
	}
	now := s.o.Now().UTC()
	in := Instance{ID: NewID(), ProjectID: projectID, Name: name, Description: description, PowerState: power, Addresses: addrs,
		Created: now, Updated: now}
	if err := s.store.CreateInstance(ctx, in, *s.event(p, projectID, "instance.create", "instance", in.ID, nil)); err != nil {
		return Instance{}, fmt.Errorf("create instance: %w", err)
	}
	return in, nil
}

func (s *Service) GetInstance(ctx context.Context, p identity.Principal, id string) (Instance, error) {
	return s.store.GetInstance(ctx, p.Scope(), id)
}

func (s *Service) ListInstances(ctx context.Context, p identity.Principal, projectID string, r page.Request) (page.Result[Instance], error) {
	r = r.Normalize()
	rows, err := s.store.ListInstances(ctx, p.Scope(), projectID, page.Request{Limit: r.Limit + 1, After: r.After})
	if err != nil {
		return page.Result[Instance]{}, fmt.Errorf("list instances: %w", err)
	}
	return page.Make(rows, r, func(x Instance) string { return x.ID }), nil
}

func (s *Service) writableInstance(ctx context.Context, p identity.Principal, id string) (Instance, error) {
	in, err := s.store.GetInstance(ctx, p.Scope(), id)
	if err != nil {
		return Instance{}, err
	}
	if err := s.projects.RequireProjectRole(ctx, p, in.ProjectID, access.Member); err != nil {
		return Instance{}, err
	}
	return in, nil
}

// UpdateInstance renames, describes or powers an instance on or off.
func (s *Service) UpdateInstance(ctx context.Context, p identity.Principal, id string, name, description, power *string) (Instance, error) {
	in, err := s.writableInstance(ctx, p, id)
	if err != nil {
		return Instance{}, err
	}
	if name != nil {
		if err := checkName(*name); err != nil {
			return Instance{}, err
		}
		in.Name = *name
	}
	if description != nil {
		if err := checkDescription(*description); err != nil {
			return Instance{}, err
		}
		in.Description = *description
	}
	if power != nil {
		if err := checkPower(*power); err != nil {
			return Instance{}, err
		}
		in.PowerState = *power
	}
	in.Updated = s.o.Now().UTC()
	if err := s.store.UpdateInstance(ctx, in, *s.event(p, in.ProjectID, "instance.update", "instance", in.ID, nil)); err != nil {
		return Instance{}, fmt.Errorf("update instance %s: %w", id, err)
	}
	return in, nil
}

// DeleteInstance refuses while volumes are attached to it.
func (s *Service) DeleteInstance(ctx context.Context, p identity.Principal, id string) error {
	in, err := s.writableInstance(ctx, p, id)
	if err != nil {
		return err
	}
	return s.store.DeleteInstance(ctx, in.ID, *s.event(p, in.ProjectID, "instance.delete", "instance", in.ID, nil))
}
