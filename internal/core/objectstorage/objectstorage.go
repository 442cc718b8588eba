// Package objectstorage owns object storage as tenants manage it: the
// object-storage services that orders create (a storage limit over a set of
// buckets, with credentials of their own), buckets as resources (create,
// list with usage, public flag, tier, delete when empty), S3 credentials
// (created with a secret shown once and sealed at rest, listed, revoked),
// and the storage quota the S3 plane reserves against on every write. The
// S3 data plane itself lives in internal/s3.
package objectstorage

import (
	"context"
	"time"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/volume"
)

// Tiers of service a bucket or service can have.
const (
	TierStandard   = "standard"
	TierEnterprise = "enterprise"
)

// Service is an object-storage service.
type Service struct {
	ID           string
	ProjectID    string
	Name         string
	Region       string
	Tier         string
	StorageLimit int64 // bytes
	Created      time.Time
	Modified     time.Time
}

// Store is what objectstorage needs from persistence.
type Store interface {
	// CreateObjectStorage records a service with its first credential and,
	// when b is given, its first bucket, in one transaction. Creating a
	// service whose id exists is a no-op (jobs may re-run).
	CreateObjectStorage(ctx context.Context, s Service, c bucket.Credential, b *bucket.Bucket) error
	GetObjectStorage(ctx context.Context, sc access.Scope, id string) (Service, error)
	ListObjectStorage(ctx context.Context, sc access.Scope, projectID string) ([]Service, error)
	// SetObjectStorageLimit changes the limit, refusing (errs.Conflict) a
	// limit below the bytes its buckets hold, checked in the same
	// transaction.
	SetObjectStorageLimit(ctx context.Context, id string, limit int64, at time.Time) error
	// DeleteObjectStorage removes a service whose buckets are all empty:
	// they become tombstones and its credentials are revoked. A service
	// with data is errs.Conflict.
	DeleteObjectStorage(ctx context.Context, id string, at time.Time) error
	// ObjectStorageUsage is the bytes held by the service's live buckets.
	ObjectStorageUsage(ctx context.Context, id string) (int64, error)
	// ProjectStorage is the project's storage quota (limited false when
	// unlimited) and the bytes counted against it: volumes, snapshots and
	// the objects in its buckets.
	ProjectStorage(ctx context.Context, projectID string) (limit int64, limited bool, used int64, err error)

	CreateBucket(ctx context.Context, b bucket.Bucket) error
	BucketByName(ctx context.Context, name string) (bucket.Bucket, error)
	BucketNameUsed(ctx context.Context, name string) (bool, error)
	ListVisibleBuckets(ctx context.Context, sc access.Scope, projectID string) ([]bucket.Bucket, error)
	UpdateBucketSettings(ctx context.Context, b bucket.Bucket) error
	DeleteBucket(ctx context.Context, id string, at time.Time) error

	CreateS3Credential(ctx context.Context, c bucket.Credential) error
	ListS3Credentials(ctx context.Context, projectID string) ([]bucket.Credential, error)
	RevokeS3Credential(ctx context.Context, projectID, accessKey string, at time.Time) error
	// ReplaceS3Credentials revokes the project's keys in revoke, creates
	// add and records events, in one transaction.
	ReplaceS3Credentials(ctx context.Context, projectID string, revoke []string, add []bucket.Credential, events []volume.Event, at time.Time) error
}

// Sealer encrypts S3 secrets at rest (seal.Sealer).
type Sealer interface {
	Seal(plaintext, aad []byte) string
	Open(sealed string, aad []byte) ([]byte, error)
}
