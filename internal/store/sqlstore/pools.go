package sqlstore

import "context"

// BucketTotals sums the usage counters of every live bucket: what the
// object store holds as clients see it.
func (s *Store) BucketTotals(ctx context.Context) (buckets, objects, bytes int64, err error) {
	err = s.r.QueryRowContext(ctx,
		"SELECT COUNT(*), COALESCE(SUM(object_count), 0), COALESCE(SUM(object_bytes), 0) FROM buckets WHERE deleted_at IS NULL").
		Scan(&buckets, &objects, &bytes)
	return buckets, objects, bytes, mapErr(err)
}

// InlineTotals counts the objects whose bytes live in their row (blob_id
// ”), by the blob index.
func (s *Store) InlineTotals(ctx context.Context) (objects, bytes int64, err error) {
	err = s.r.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM objects WHERE blob_id = '' AND manifest = ''").Scan(&objects, &bytes)
	return objects, bytes, mapErr(err)
}
