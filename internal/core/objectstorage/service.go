package objectstorage

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/stowage/stowage/internal/bytesize"
	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
)

// ErrNameRetired marks a bucket name that was used before: names are never
// reused, so data addressed by an old name can never reach a new owner.
var ErrNameRetired = errors.New("bucket name retired")

// Manager applies the rules of object storage.
type Manager struct {
	store    Store
	identity *identity.Service
	sealer   Sealer
	region   string
	now      func() time.Time

	mu       sync.Mutex
	reserved map[string]int64 // "service:<id>" or "project:<id>" → bytes of writes in flight
}

func NewManager(store Store, id *identity.Service, sealer Sealer, region string) *Manager {
	return &Manager{store: store, identity: id, sealer: sealer, region: region, now: time.Now, reserved: map[string]int64{}}
}

// Region is the region this node's buckets live in.
func (s *Manager) Region() string { return s.region }

var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

// checkBucketName applies the management API's naming rule, stricter than
// S3's: no dots, so every name also works in virtual-hosted style over TLS.
func checkBucketName(name string) error {
	if !bucketNameRE.MatchString(name) {
		return errs.Field("name", "bucket names are 3-63 characters of lowercase letters, digits and hyphens, starting and ending with a letter or digit")
	}
	return bucket.ValidName(name)
}

func checkTier(t string) error {
	if t != TierStandard && t != TierEnterprise {
		return errs.Field("tier", "tier must be standard or enterprise")
	}
	return nil
}

// BucketInput describes a new bucket.
type BucketInput struct {
	ProjectID string
	Name      string
	Tier      string
	Public    bool
	ServiceID string
	// Versioning turns versioning on from the start.
	Versioning bool
	// ObjectLock turns object lock on, which only a bucket made with it
	// can have from the start (as S3's CreateBucket with
	// x-amz-bucket-object-lock-enabled); it needs versions to protect, so
	// it turns versioning on too.
	ObjectLock bool
}

// CreateBucket makes a bucket for a project (or one of its services).
func (s *Manager) CreateBucket(ctx context.Context, p identity.Principal, in BucketInput) (bucket.Bucket, error) {
	if err := s.writable(ctx, p, in.ProjectID); err != nil {
		return bucket.Bucket{}, err
	}
	if in.Tier == "" {
		in.Tier = TierStandard
	}
	if err := checkBucketName(in.Name); err != nil {
		return bucket.Bucket{}, err
	}
	if err := checkTier(in.Tier); err != nil {
		return bucket.Bucket{}, err
	}
	if in.ServiceID != "" {
		svc, err := s.store.GetObjectStorage(ctx, p.Scope(), in.ServiceID)
		if err != nil || svc.ProjectID != in.ProjectID {
			return bucket.Bucket{}, errs.Field("service_id", "object-storage service %s not found in this project", in.ServiceID)
		}
	}
	b := newBucket(in, s.region, s.now())
	if err := s.store.CreateBucket(ctx, b); err != nil {
		return bucket.Bucket{}, s.nameError(ctx, in.Name, err)
	}
	return b, nil
}

func newBucket(in BucketInput, region string, now time.Time) bucket.Bucket {
	acl := bucket.ACLPrivate
	if in.Public {
		acl = bucket.ACLPublicRead
	}
	b := bucket.Bucket{ID: identity.NewID(), Name: in.Name, ProjectID: in.ProjectID, ServiceID: in.ServiceID, Region: region,
		ACL: acl, Tier: in.Tier, Created: now.UTC()}
	if in.Versioning || in.ObjectLock {
		b.Versioning = bucket.VersioningEnabled
	}
	if in.ObjectLock {
		b.ObjectLock = &bucket.ObjectLockConfig{}
	}
	return b
}

// nameError tells a taken name from a retired one.
func (s *Manager) nameError(ctx context.Context, name string, err error) error {
	if !errs.Is(err, errs.Exist) {
		return err
	}
	if _, lerr := s.store.BucketByName(ctx, name); errs.Is(lerr, errs.NotExist) {
		return &errs.Error{Kind: errs.Exist, Field: "name", Msg: fmt.Sprintf("bucket name %q cannot be reused after deletion", name), Err: ErrNameRetired}
	}
	return &errs.Error{Kind: errs.Exist, Field: "name", Msg: fmt.Sprintf("bucket name %q is already taken", name)}
}

// writable checks that p may create and change things in the project,
// answering NotExist for projects p cannot see.
func (s *Manager) writable(ctx context.Context, p identity.Principal, projectID string) error {
	if _, err := s.identity.GetProject(ctx, p, projectID); err != nil {
		return err
	}
	return s.identity.RequireProjectRole(ctx, p, projectID, access.Member)
}

// Buckets lists the project's buckets with their usage.
func (s *Manager) Buckets(ctx context.Context, p identity.Principal, projectID string) ([]bucket.Bucket, error) {
	if _, err := s.identity.GetProject(ctx, p, projectID); err != nil {
		return nil, err
	}
	return s.store.ListVisibleBuckets(ctx, p.Scope(), projectID)
}

// Bucket returns a bucket the caller can see; another project's bucket is
// NotExist, the same as a missing one.
func (s *Manager) Bucket(ctx context.Context, p identity.Principal, name string) (bucket.Bucket, error) {
	b, err := s.store.BucketByName(ctx, name)
	if err == nil {
		_, err = s.identity.GetProject(ctx, p, b.ProjectID)
	}
	if err != nil {
		if errs.Is(err, errs.NotExist) {
			return bucket.Bucket{}, errs.E(errs.NotExist, "bucket %s not found", name)
		}
		return bucket.Bucket{}, err
	}
	return b, nil
}

// BucketUpdate holds the settings a client may change; nil leaves one alone.
type BucketUpdate struct {
	Public *bool
	Tier   *string
}

func (s *Manager) UpdateBucket(ctx context.Context, p identity.Principal, name string, u BucketUpdate) (bucket.Bucket, error) {
	b, err := s.Bucket(ctx, p, name)
	if err != nil {
		return b, err
	}
	if err := s.identity.RequireProjectRole(ctx, p, b.ProjectID, access.Member); err != nil {
		return b, err
	}
	if u.Tier != nil {
		if err := checkTier(*u.Tier); err != nil {
			return b, err
		}
		b.Tier = *u.Tier
	}
	if u.Public != nil {
		b.ACL = bucket.ACLPrivate
		if *u.Public {
			b.ACL = bucket.ACLPublicRead
		}
	}
	return b, s.store.UpdateBucketSettings(ctx, b)
}

// DeleteBucket deletes an empty bucket; its name is retired for good.
func (s *Manager) DeleteBucket(ctx context.Context, p identity.Principal, name string) error {
	b, err := s.Bucket(ctx, p, name)
	if err != nil {
		return err
	}
	if err := s.identity.RequireProjectRole(ctx, p, b.ProjectID, access.Member); err != nil {
		return err
	}
	return s.store.DeleteBucket(ctx, b.ID, s.now().UTC())
}

// newCredential makes a key; createdBy is the user it is taken from when
// they lose the member role ("" for a service's key).
func (s *Manager) newCredential(projectID, serviceID, createdBy, description string) (bucket.Credential, string) {
	ak, secret := bucket.NewKey()
	return bucket.Credential{AccessKey: ak, ProjectID: projectID, ServiceID: serviceID, Description: description, CreatedBy: createdBy,
		SecretSealed: s.sealer.Seal([]byte(secret), []byte(ak)), Created: s.now().UTC()}, secret
}

// CreateCredential makes an S3 key for the project; the secret is returned
// once and stored only sealed. The key is the caller's: it lives as long
// as their member role on the project.
func (s *Manager) CreateCredential(ctx context.Context, p identity.Principal, projectID, description string) (bucket.Credential, string, error) {
	if err := s.writable(ctx, p, projectID); err != nil {
		return bucket.Credential{}, "", err
	}
	if len(description) > 256 {
		return bucket.Credential{}, "", errs.Field("description", "description must be at most 256 bytes")
	}
	c, secret := s.newCredential(projectID, "", p.User.ID, description)
	if err := s.store.CreateS3Credential(ctx, c); err != nil {
		return bucket.Credential{}, "", fmt.Errorf("create credential: %w", err)
	}
	return c, secret, nil
}

// Credentials lists the project's active keys, without secrets.
func (s *Manager) Credentials(ctx context.Context, p identity.Principal, projectID string) ([]bucket.Credential, error) {
	if _, err := s.identity.GetProject(ctx, p, projectID); err != nil {
		return nil, err
	}
	return s.store.ListS3Credentials(ctx, projectID)
}

// RevokeCredential makes a key unusable at once.
func (s *Manager) RevokeCredential(ctx context.Context, p identity.Principal, projectID, accessKey string) error {
	if err := s.writable(ctx, p, projectID); err != nil {
		return err
	}
	return s.store.RevokeS3Credential(ctx, projectID, accessKey, s.now().UTC())
}

// AccountCredential returns the caller's standing key in the project and
// its secret, as dialects that show an account's credentials on every
// call need: the oldest active project-wide key the caller made, made on
// first use. A secret writes, so only those who may make keys (member and
// up) see one; and it is the caller's own, so it goes when their role
// does, never another member's key.
func (s *Manager) AccountCredential(ctx context.Context, p identity.Principal, projectID string) (bucket.Credential, string, error) {
	if err := s.writable(ctx, p, projectID); err != nil {
		return bucket.Credential{}, "", err
	}
	cs, err := s.store.ListS3Credentials(ctx, projectID)
	if err != nil {
		return bucket.Credential{}, "", err
	}
	for _, c := range cs {
		if c.ServiceID == "" && c.CreatedBy == p.User.ID {
			secret, err := s.sealer.Open(c.SecretSealed, []byte(c.AccessKey))
			if err != nil {
				return bucket.Credential{}, "", errs.Wrap(errs.Internal, "cannot open a stored secret", err)
			}
			return c, string(secret), nil
		}
	}
	return s.CreateCredential(ctx, p, projectID, "account key")
}

// TakeBack is identity's AccessLost hook: the user no longer holds the
// member role on the project, so every key they could still use goes.
// Their own keys are revoked; the keys of the project's object-storage
// services, which every member could read, are replaced by new ones.
// Each change is an event. Running it again finds nothing left to do for
// the user's keys, but rotates the service keys once more.
func (s *Manager) TakeBack(ctx context.Context, actorID, userID, projectID string) error {
	cs, err := s.store.ListS3Credentials(ctx, projectID)
	if err != nil {
		return fmt.Errorf("take back keys: %w", err)
	}
	now := s.now().UTC()
	var revoke []string
	var add []bucket.Credential
	var events []volume.Event
	event := func(action, key string, detail map[string]any) {
		detail["user_id"] = userID
		events = append(events, volume.Event{ID: identity.NewID(), ProjectID: projectID, UserID: actorID, Action: action,
			ResourceType: "s3_credential", ResourceID: key, Detail: detail, Created: now})
	}
	for _, c := range cs {
		switch {
		case c.CreatedBy == userID:
			revoke = append(revoke, c.AccessKey)
			event("s3_credential.revoke", c.AccessKey, map[string]any{"reason": "its creator no longer holds the member role"})
		case c.CreatedBy == "" && c.ServiceID != "":
			n, _ := s.newCredential(projectID, c.ServiceID, "", c.Description)
			revoke, add = append(revoke, c.AccessKey), append(add, n)
			event("s3_credential.rotate", c.AccessKey, map[string]any{"reason": "a member who could read it left", "new_access_key_id": n.AccessKey})
		}
	}
	if len(revoke) == 0 {
		return nil
	}
	if err := s.store.ReplaceS3Credentials(ctx, projectID, revoke, add, events, now); err != nil {
		return fmt.Errorf("take back keys: %w", err)
	}
	return nil
}

// ObjectStorage returns a service visible to p.
func (s *Manager) ObjectStorage(ctx context.Context, p identity.Principal, id string) (Service, int64, error) {
	svc, err := s.store.GetObjectStorage(ctx, p.Scope(), id)
	if err != nil {
		return svc, 0, err
	}
	used, err := s.store.ObjectStorageUsage(ctx, id)
	return svc, used, err
}

func (s *Manager) ObjectStorages(ctx context.Context, p identity.Principal, projectID string) ([]Service, error) {
	return s.store.ListObjectStorage(ctx, p.Scope(), projectID)
}

// Reserve implements the S3 plane's quota hook. A write into a bucket of
// a service must fit under the service's limit; a write into a project's
// own bucket must fit under the project's storage quota (volumes,
// snapshots and objects together). Both count the bytes stored and the
// bytes of other writes still in flight. Reservations are held in this
// process; on several nodes each node admits its own in-flight writes, so
// a limit can be overshot by at most the writes in flight elsewhere.
func (s *Manager) Reserve(ctx context.Context, projectID string, b bucket.Bucket, bytes int64) (func(), error) {
	if bytes <= 0 {
		return func() {}, nil
	}
	key, name := "project:"+b.ProjectID, "project"
	var limit, used int64
	if b.ServiceID != "" {
		svc, err := s.store.GetObjectStorage(ctx, access.System, b.ServiceID)
		if errs.Is(err, errs.NotExist) {
			return nil, errs.E(errs.Quota, "the object-storage service of this bucket no longer exists")
		}
		if err != nil {
			return nil, err
		}
		if used, err = s.store.ObjectStorageUsage(ctx, svc.ID); err != nil {
			return nil, err
		}
		key, name, limit = "service:"+svc.ID, fmt.Sprintf("object-storage service %q", svc.Name), svc.StorageLimit
	} else {
		var limited bool
		var err error
		if limit, limited, used, err = s.store.ProjectStorage(ctx, b.ProjectID); err != nil {
			return nil, err
		}
		if !limited {
			return func() {}, nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if used+s.reserved[key]+bytes > limit {
		return nil, errs.E(errs.Quota, "the %s holds %s of %s; %s more do not fit", name, bytesize.Format(used), bytesize.Format(limit), bytesize.Format(bytes))
	}
	s.reserved[key] += bytes
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.reserved[key] -= bytes; s.reserved[key] <= 0 {
				delete(s.reserved, key)
			}
		})
	}, nil
}
