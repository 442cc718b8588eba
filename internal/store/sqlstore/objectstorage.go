package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/stowage/stowage/internal/bytesize"
	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/objectstorage"
	"github.com/stowage/stowage/internal/errs"
)

var _ objectstorage.Store = (*Store)(nil)

func (s *Store) CreateObjectStorage(ctx context.Context, svc objectstorage.Service, c bucket.Credential, b *bucket.Bucket) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM object_storage_services WHERE id = $1", svc.ID).Scan(&n); err != nil {
			return mapErr(err)
		}
		if n > 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO object_storage_services (id, project_id, name, region, tier, storage_limit, created_at, modified_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, svc.ID, svc.ProjectID, svc.Name, svc.Region, svc.Tier, svc.StorageLimit, ts(svc.Created), ts(svc.Modified))
		if err != nil {
			return mapErr(err)
		}
		if err := insertCredential(ctx, tx, c); err != nil {
			return err
		}
		if b != nil {
			return insertBucket(ctx, tx, *b)
		}
		return nil
	})
}

const serviceCols = "id, project_id, name, region, tier, storage_limit, created_at, modified_at"

func scanService(row interface{ Scan(...any) error }) (objectstorage.Service, error) {
	var v objectstorage.Service
	var created, modified int64
	err := row.Scan(&v.ID, &v.ProjectID, &v.Name, &v.Region, &v.Tier, &v.StorageLimit, &created, &modified)
	v.Created, v.Modified = fromTS(created), fromTS(modified)
	return v, err
}

func (s *Store) GetObjectStorage(ctx context.Context, sc access.Scope, id string) (objectstorage.Service, error) {
	q := new(query).add("SELECT "+serviceCols+" FROM object_storage_services WHERE id = ? AND deleted_at IS NULL AND ", id).visibleProjects("project_id", sc)
	v, err := scanService(s.r.QueryRowContext(ctx, q.String(), q.args...))
	if err != nil {
		return v, notFound(err, "object-storage service", id)
	}
	return v, nil
}

func (s *Store) ListObjectStorage(ctx context.Context, sc access.Scope, projectID string) ([]objectstorage.Service, error) {
	q := new(query).add("SELECT "+serviceCols+" FROM object_storage_services WHERE deleted_at IS NULL AND ").visibleProjects("project_id", sc)
	if projectID != "" {
		q.add(" AND project_id = ?", projectID)
	}
	return collect(ctx, s.r, q.add(" ORDER BY id"), scanService)
}

func serviceUsage(ctx context.Context, q rowQuerier, id string) (int64, error) {
	return bucketUsage(ctx, q, "service_id", id)
}

// bucketUsage is what the live buckets whose column (project_id or
// service_id, never caller input) is id cost: their objects' bytes, from
// the buckets' transactional counters, and the parts of their multipart
// uploads in progress. Parts count from the commit that stores them, so
// that uploading parts cannot go past a quota that a PUT may not (issue
// 18); the commit that completes or aborts an upload deletes its parts,
// so their bytes are counted once, as the object's or not at all.
func bucketUsage(ctx context.Context, q rowQuerier, column, id string) (int64, error) {
	var used int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE((SELECT SUM(object_bytes) FROM buckets WHERE `+column+` = $1 AND deleted_at IS NULL), 0)
		+ COALESCE((SELECT SUM(p.size) FROM multipart_parts p JOIN multipart_uploads u ON u.id = p.upload_id
			JOIN buckets b ON b.id = u.bucket_id WHERE b.`+column+` = $1 AND b.deleted_at IS NULL), 0)`, id).Scan(&used)
	return used, mapErr(err)
}

func (s *Store) ObjectStorageUsage(ctx context.Context, id string) (int64, error) {
	return serviceUsage(ctx, s.r, id)
}

func (s *Store) ProjectStorage(ctx context.Context, projectID string) (limit int64, limited bool, used int64, err error) {
	var l sql.NullInt64
	err = s.hotRow(ctx, "SELECT storage_bytes FROM volume_quotas WHERE project_id = $1", projectID).Scan(&l)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, false, 0, mapErr(err)
	}
	if !l.Valid {
		return 0, false, 0, nil
	}
	_, u, err := s.GetQuota(ctx, projectID)
	return l.Int64, true, u.StorageBytes, err
}

func (s *Store) SetObjectStorageLimit(ctx context.Context, id string, limit int64, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		used, err := serviceUsage(ctx, tx, id)
		if err != nil {
			return err
		}
		if limit < used {
			return errs.E(errs.Conflict, "the new limit of %s is below the %s the service's buckets hold", bytesize.Format(limit), bytesize.Format(used))
		}
		res, err := tx.ExecContext(ctx, "UPDATE object_storage_services SET storage_limit = $1, modified_at = $2 WHERE id = $3 AND deleted_at IS NULL",
			limit, ts(at), id)
		if err != nil {
			return mapErr(err)
		}
		return mustAffect(res, "object-storage service", id)
	})
}

func (s *Store) DeleteObjectStorage(ctx context.Context, id string, at time.Time) error {
	defer s.forget(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		var objects, uploads int
		err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(object_count), 0), (SELECT COUNT(*) FROM multipart_uploads u JOIN buckets b ON b.id = u.bucket_id
			WHERE b.service_id = $1 AND b.deleted_at IS NULL) FROM buckets WHERE service_id = $1 AND deleted_at IS NULL`, id).Scan(&objects, &uploads)
		if err != nil {
			return mapErr(err)
		}
		if objects > 0 || uploads > 0 {
			return errs.E(errs.Conflict, "the object-storage service still holds %d objects and %d unfinished uploads; empty its buckets first", objects, uploads)
		}
		res, err := tx.ExecContext(ctx, "UPDATE object_storage_services SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL", ts(at), id)
		if err != nil {
			return mapErr(err)
		}
		if err := mustAffect(res, "object-storage service", id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE buckets SET deleted_at = $1 WHERE service_id = $2 AND deleted_at IS NULL", ts(at), id); err != nil {
			return mapErr(err)
		}
		_, err = tx.ExecContext(ctx, "UPDATE s3_credentials SET revoked_at = $1 WHERE service_id = $2 AND revoked_at IS NULL", ts(at), id)
		return mapErr(err)
	})
}

func (s *Store) BucketNameUsed(ctx context.Context, name string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM buckets WHERE name = $1", name).Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, mapErr(err)
	}
	return n > 0, nil
}

func (s *Store) ListVisibleBuckets(ctx context.Context, sc access.Scope, projectID string) ([]bucket.Bucket, error) {
	q := new(query).add("SELECT "+bucketCols+" FROM buckets WHERE project_id = ? AND deleted_at IS NULL AND ", projectID).visibleProjects("project_id", sc)
	return collect(ctx, s.r, q.add(" ORDER BY name"), scanBucket)
}

func (s *Store) UpdateBucketSettings(ctx context.Context, b bucket.Bucket) error {
	defer s.forget(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE buckets SET acl = $1, tier = $2 WHERE id = $3 AND deleted_at IS NULL", b.ACL, b.Tier, b.ID)
		if err != nil {
			return mapErr(err)
		}
		return mustAffect(res, "bucket", b.Name)
	})
}
