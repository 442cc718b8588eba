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
