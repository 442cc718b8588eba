package s3

import (
	"context"
	"fmt"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/errs"
)

// CredentialStore is where sealed S3 credentials live (sqlstore).
type CredentialStore interface {
	S3Credential(ctx context.Context, accessKey string) (bucket.Credential, error)
}

// Opener decrypts a sealed secret (seal.Sealer).
type Opener interface {
	Open(sealed string, aad []byte) ([]byte, error)
}

// SealedCredentials resolves access keys whose secrets are stored sealed
// with the master key, the access key id being the additional data so a
// sealed secret cannot be moved to another key's row.
type SealedCredentials struct {
	store  CredentialStore
	opener Opener
}

// NewSealedCredentials builds the resolver the handler needs.
func NewSealedCredentials(store CredentialStore, opener Opener) *SealedCredentials {
	return &SealedCredentials{store: store, opener: opener}
}

// ResolveS3Key implements Credentials.
func (c *SealedCredentials) ResolveS3Key(ctx context.Context, accessKey string) (Key, error) {
	cred, err := c.store.S3Credential(ctx, accessKey)
	if err != nil {
		return Key{}, err
	}
	secret, err := c.opener.Open(cred.SecretSealed, []byte(accessKey))
	if err != nil {
		return Key{}, errs.Wrap(errs.Internal, "cannot open a stored secret", fmt.Errorf("open secret of %s: %w", accessKey, err))
	}
	return Key{ProjectID: cred.ProjectID, ServiceID: cred.ServiceID, Secret: string(secret)}, nil
}
