package sqlstore

import (
	"context"

	"github.com/stowage/stowage/internal/core/bucket"
)

// ListObjectsSkipScan is ListObjects without listDir: the reference the
// directory listing must agree with.
func (s *Store) ListObjectsSkipScan(ctx context.Context, bucketID string, lq bucket.ListQuery) ([]bucket.Object, error) {
	return s.listScan(ctx, bucketID, lq)
}
