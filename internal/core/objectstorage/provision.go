package objectstorage

import (
	"context"
	"fmt"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/errs"
)

// GiB is the unit of the storage component: orders say "storage: 10" for
// ten GiB, the binary gigabyte that disks and Waldur's OpenStack plugins
// mean.
const GiB = 1 << 30

// Provisioner returns the fulfiller of object-storage orders.
func (s *Manager) Provisioner() marketplace.Provisioner { return provisioner{s} }

type provisioner struct{ s *Manager }

func limitBytes(limits map[string]int64) (int64, error) {
	gb, ok := limits["storage"]
	if !ok {
		return 0, errs.Field("limits", "an object-storage order needs limits.storage in GB")
	}
	if gb <= 0 || gb > 1<<33 {
		return 0, errs.Field("limits", "limits.storage must be a positive number of GB")
	}
	return gb * GiB, nil
}

// orderSpec reads what a Create order asks for: the storage limit, the
// tier and the name of the first bucket, if any.
func orderSpec(attrs map[string]any, limits map[string]int64) (limit int64, tier, bucketName string, err error) {
	if limit, err = limitBytes(limits); err != nil {
		return 0, "", "", err
	}
	tier, _ = attrs["tier"].(string)
	if tier == "" {
		tier = TierStandard
	}
	if err := checkTier(tier); err != nil {
		return 0, "", "", err
	}
	if bucketName, _ = attrs["name"].(string); bucketName != "" {
		if err := checkBucketName(bucketName); err != nil {
			return 0, "", "", errs.Field("attributes", "attributes.name %q is not a valid bucket name: %s", bucketName, errs.Message(err))
		}
	}
	return limit, tier, bucketName, nil
}

// Check refuses, when the order is placed, an order Create would refuse.
func (p provisioner) Check(_ context.Context, _ marketplace.Offering, attrs map[string]any, limits map[string]int64) error {
	_, _, _, err := orderSpec(attrs, limits)
	return err
}

// Create makes the service under the resource's id, so a re-run after a
// crash finds it instead of making a second one.
func (p provisioner) Create(ctx context.Context, r marketplace.Resource, o marketplace.Offering) (marketplace.Scope, error) {
	s := p.s
	limit, tier, name, err := orderSpec(r.Attributes, r.Limits)
	if err != nil {
		return marketplace.Scope{}, err
	}
	now := s.now().UTC()
	svc := Service{ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Region: s.region, Tier: tier, StorageLimit: limit, Created: now, Modified: now}
	cred, _ := s.newCredential(r.ProjectID, svc.ID, "", "object storage "+r.Name)
	var b *bucket.Bucket
	if name != "" {
		nb := newBucket(BucketInput{ProjectID: r.ProjectID, Name: name, Tier: tier, ServiceID: svc.ID}, s.region, now)
		b = &nb
	}
	if err := s.store.CreateObjectStorage(ctx, svc, cred, b); err != nil {
		if b != nil {
			err = s.nameError(ctx, b.Name, err)
		}
		return marketplace.Scope{}, fmt.Errorf("create object storage %s: %w", r.Name, err)
	}
	return marketplace.Scope{Type: string(marketplace.KindObjectStorage), ID: svc.ID}, nil
}

func (p provisioner) Update(ctx context.Context, r marketplace.Resource, o marketplace.Offering, limits map[string]int64) error {
	limit, err := limitBytes(limits)
	if err != nil {
		return err
	}
	return p.s.store.SetObjectStorageLimit(ctx, r.ScopeID, limit, p.s.now().UTC())
}

func (p provisioner) Terminate(ctx context.Context, r marketplace.Resource, o marketplace.Offering) error {
	if r.ScopeID == "" {
		return nil // never created
	}
	err := p.s.store.DeleteObjectStorage(ctx, r.ScopeID, p.s.now().UTC())
	if errs.Is(err, errs.NotExist) {
		return nil // deleted by an earlier attempt
	}
	return err
}

// ServiceCredentials returns a service's keys with their secrets, for the
// project's members (the order that made the service could not show
// them). A secret writes, so viewers are refused.
func (s *Manager) ServiceCredentials(ctx context.Context, p identity.Principal, id string) ([]bucket.Credential, []string, error) {
	svc, err := s.store.GetObjectStorage(ctx, p.Scope(), id)
	if err != nil {
		return nil, nil, err
	}
	if err := s.identity.RequireProjectRole(ctx, p, svc.ProjectID, access.Member); err != nil {
		return nil, nil, err
	}
	all, err := s.store.ListS3Credentials(ctx, svc.ProjectID)
	if err != nil {
		return nil, nil, err
	}
	var cs []bucket.Credential
	var secrets []string
	for _, c := range all {
		if c.ServiceID != svc.ID {
			continue
		}
		secret, err := s.sealer.Open(c.SecretSealed, []byte(c.AccessKey))
		if err != nil {
			return nil, nil, errs.Wrap(errs.Internal, "cannot open a stored secret", err)
		}
		cs, secrets = append(cs, c), append(secrets, string(secret))
	}
	return cs, secrets, nil
}
