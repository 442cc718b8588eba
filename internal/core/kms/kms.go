// Package kms owns the key service built into Stowage: projects' own
// encryption keys (created, listed, disabled and enabled, scheduled for
// deletion and destroyed when the window ends) and the two operations the
// S3 plane needs of them, GenerateDataKey and Decrypt, as AWS KMS names
// them. A key's material is 256 random bits sealed under the node's master
// key; it never leaves this package, and no API returns it. A data key is
// wrapped under the key's material with its encryption context as
// additional authenticated data, so it opens only with the same context.
// Consumers hold a small interface of their own (GenerateDataKey/Decrypt),
// which an external KMS can implement instead of Service.
package kms

import (
	"context"
	"errors"
	"time"
)

// Key states, as AWS KMS reports them.
const (
	Enabled         = "Enabled"
	Disabled        = "Disabled"
	PendingDeletion = "PendingDeletion"
)

// Deletion windows AWS KMS allows, in days.
const (
	MinDeletionDays     = 7
	MaxDeletionDays     = 30
	DefaultDeletionDays = 30
)

// Key is one project key. Material is the key's 256 bits sealed under the
// master key; it stays inside this package and the store.
type Key struct {
	ID          string
	ProjectID   string
	Alias       string // without "alias/", "" for none; unique in the project
	Description string
	State       string
	Material    string
	Created     time.Time
	// DeletionDate is when a key pending deletion is destroyed; zero
	// otherwise.
	DeletionDate time.Time
}

// DataKey is a fresh data key: its plaintext for the caller to encrypt
// with and forget, the same key wrapped for storage, and the ARN of the
// project key that wrapped it.
type DataKey struct {
	KeyARN     string
	Plaintext  []byte
	Ciphertext string
}

// Errors a key in the wrong state gives, which S3 reports as AWS does
// (KMS.DisabledException, KMS.KMSInvalidStateException,
// KMS.NotFoundException, AccessDenied for another project's key); they
// wrap errs kinds for every other edge.
var (
	ErrAccessDenied      = errors.New("kms key belongs to another project")
	ErrDisabled          = errors.New("kms key is disabled")
	ErrPendingDeletion   = errors.New("kms key is pending deletion")
	ErrNotFound          = errors.New("kms key not found")
	ErrInvalidCiphertext = errors.New("kms ciphertext does not open with this key and context")
)

// Store is what the key service needs from persistence. Every lookup is
// by project: a key of another project does not exist.
type Store interface {
	CreateKMSKey(ctx context.Context, k Key) error
	GetKMSKey(ctx context.Context, projectID, id string) (Key, error)
	KMSKeyByAlias(ctx context.Context, projectID, alias string) (Key, error)
	ListKMSKeys(ctx context.Context, projectID string) ([]Key, error)
	// SetKMSKeyState changes a key's state and deletion date if its state
	// is one of from (errs.Conflict otherwise).
	SetKMSKeyState(ctx context.Context, projectID, id string, from []string, state string, deletion time.Time) error
	// DestroyKMSKeys deletes, with their material, the keys pending
	// deletion whose date is not after now, and returns how many.
	DestroyKMSKeys(ctx context.Context, now time.Time) (int, error)
}

// Sealer seals key material under the master key (seal.Sealer).
type Sealer interface {
	Seal(plaintext, aad []byte) string
	Open(sealed string, aad []byte) ([]byte, error)
}
