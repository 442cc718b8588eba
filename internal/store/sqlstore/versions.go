package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/errs"
)

// This file keeps object versions: objects holds each key's current
// version, object_versions the noncurrent ones and delete markers. The
// current row, when there is one, is always its key's newest version.

// versionCols are the columns objects and object_versions share.
const versionCols = objectCols

// SetVersioning enables or suspends a bucket's versioning. A bucket with
// object lock cannot be suspended (errs.Conflict).
func (s *Store) SetVersioning(ctx context.Context, bucketID, status string) error {
	defer s.forget(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		st, err := s.bucketStateIn(ctx, tx, bucketID)
		if err != nil {
			return err
		}
		if st.lock != "" && status != bucket.VersioningEnabled {
			return errs.E(errs.Conflict, "versioning cannot be suspended on a bucket with object lock")
		}
		_, err = tx.ExecContext(ctx, "UPDATE buckets SET versioning = $1 WHERE id = $2", status, bucketID)
		return mapErr(err)
	})
}

// SetObjectLock stores a bucket's object lock configuration; object lock
// needs versioning enabled (errs.Conflict).
func (s *Store) SetObjectLock(ctx context.Context, bucketID string, cfg bucket.ObjectLockConfig) error {
	defer s.forget(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		st, err := s.bucketStateIn(ctx, tx, bucketID)
		if err != nil {
			return err
		}
		if st.versioning != bucket.VersioningEnabled {
			return errs.E(errs.Conflict, "object lock can be turned on only for a bucket with versioning enabled")
		}
		_, err = tx.ExecContext(ctx, "UPDATE buckets SET object_lock = $1 WHERE id = $2", toJSONValue(cfg, false), bucketID)
		return mapErr(err)
	})
}

// lockKey serialises the writers of one key on PostgreSQL until their
// transactions end, so concurrent PUTs and deletes of a key each commit in
// turn (last writer current) instead of failing on each other's rows;
// SQLite's single writer already does.
func (s *Store) lockKey(ctx context.Context, tx *sql.Tx, bucketID, key string) error {
	if s.engine != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))", bucketID, key)
	return mapErr(err)
}

// newSeq is a new version's place in its key's history: a time-ordered
// id given at commit, and past every seq the key has, so commit order is
// version order even when clocks differ between nodes or step back (the
// caller holds the key's lock).
func newSeq(ctx context.Context, tx *sql.Tx, bucketID, key string) (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new version id: %w", err)
	}
	var newest string
	err = tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), '') FROM (SELECT seq FROM objects WHERE bucket_id = $1 AND key_name = $2
		UNION ALL SELECT seq FROM object_versions WHERE bucket_id = $1 AND key_name = $2) s`, bucketID, key).Scan(&newest)
	if err != nil {
		return "", fmt.Errorf("read newest version: %w", mapErr(err))
	}
	if last, perr := uuid.Parse(newest); perr == nil && u.String() <= newest {
		// One past the newest: the id as a 128-bit number, plus one.
		for i := len(last) - 1; i >= 0; i-- {
			if last[i]++; last[i] != 0 {
				break
			}
		}
		u = last
	}
	return u.String(), nil
}

// retire moves the current version of key, if any, to object_versions.
func retire(ctx context.Context, tx *sql.Tx, bucketID, key string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO object_versions (`+versionCols+`, delete_marker)
		SELECT `+versionCols+`, 0 FROM objects WHERE bucket_id = $1 AND key_name = $2`, bucketID, key); err != nil {
		return fmt.Errorf("keep noncurrent version: %w", mapErr(err))
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM objects WHERE bucket_id = $1 AND key_name = $2", bucketID, key); err != nil {
		return fmt.Errorf("retire current version: %w", mapErr(err))
	}
	return nil
}

// dropNullVersion removes key's null version, current or not, adding its
// blob to c. There is at most one: a null write or delete replaces it. A
// null version that a retention or legal hold protects is never replaced
// (errs.Permission).
func (s *Store) dropNullVersion(ctx context.Context, tx *sql.Tx, bucketID, key string, keep body, c *bucket.Committed) error {
	for _, table := range []string{"objects", "object_versions"} {
		marker := "0"
		if table == "object_versions" {
			marker = "delete_marker"
		}
		var b body
		var mode string
		var size, until int64
		var dm, hold int
		err := tx.QueryRowContext(ctx, "SELECT blob_id, manifest, size, "+marker+", lock_mode, lock_until, legal_hold FROM "+table+
			" WHERE bucket_id = $1 AND key_name = $2 AND version_id = ''", bucketID, key).Scan(&b.blob, &b.manifest, &size, &dm, &mode, &until, &hold)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return fmt.Errorf("read null version: %w", mapErr(err))
		}
		if hold != 0 || (mode != "" && until > ts(time.Now())) {
			return errs.E(errs.Permission, "the null version of %s is locked", key)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE bucket_id = $1 AND key_name = $2 AND version_id = ''", bucketID, key); err != nil {
			return fmt.Errorf("drop null version: %w", mapErr(err))
		}
		if dm == 0 {
			if !b.same(keep) { // keep: a metadata-only replace reuses the bytes
				freed, err := b.free(ctx, tx)
				if err != nil {
					return err
				}
				c.Freed = append(c.Freed, freed...)
			}
			if err := s.bumpUsage(ctx, tx, bucketID, -size, -1); err != nil {
				return err
			}
		}
	}
	return nil
}

// putVersion commits o as key's newest version in a versioned bucket: a
// new version id when versioning is enabled, the null version (replacing
// the old one) when suspended. The version it supersedes stays.
func (s *Store) putVersion(ctx context.Context, tx *sql.Tx, o bucket.Object, versioning string) (bucket.Committed, error) {
	c := bucket.Committed{Versioned: true}
	seq, err := newSeq(ctx, tx, o.BucketID, o.Key)
	if err != nil {
		return c, err
	}
	o.Seq, o.VersionID = seq, ""
	if versioning == bucket.VersioningEnabled {
		o.VersionID = seq
	}
	nb := body{blob: o.BlobID, manifest: manifestValue(o.Manifest)}
	if versioning != bucket.VersioningEnabled {
		if err := s.dropNullVersion(ctx, tx, o.BucketID, o.Key, nb, &c); err != nil {
			return c, err
		}
	}
	// The version that stays must not share its bytes with the new one: a
	// delete of either would take the other's bytes.
	var cur body
	err = tx.QueryRowContext(ctx, "SELECT blob_id, manifest FROM objects WHERE bucket_id = $1 AND key_name = $2", o.BucketID, o.Key).Scan(&cur.blob, &cur.manifest)
	if err != nil && err != sql.ErrNoRows {
		return c, fmt.Errorf("read current version: %w", mapErr(err))
	}
	if err == nil && cur.same(nb) {
		return c, errs.E(errs.Conflict, "a new version cannot share its bytes with the version it supersedes")
	}
	if err := retire(ctx, tx, o.BucketID, o.Key); err != nil {
		return c, err
	}
	if _, err := s.replaceObject(ctx, tx, o); err != nil {
		return c, err
	}
	c.VersionID = o.VersionID
	return c, nil
}

// putDeleteMarker deletes key in a versioned bucket: the current version
// becomes noncurrent and a delete marker its newest version (the null one
// when suspended, replacing the null version).
func (s *Store) putDeleteMarker(ctx context.Context, tx *sql.Tx, bucketID, key, versioning string, at time.Time) (bucket.Committed, error) {
	var c bucket.Committed
	seq, err := newSeq(ctx, tx, bucketID, key)
	if err != nil {
		return c, err
	}
	vid := seq
	if versioning != bucket.VersioningEnabled {
		vid = ""
		if err := s.dropNullVersion(ctx, tx, bucketID, key, body{}, &c); err != nil {
			return c, err
		}
	}
	if err := retire(ctx, tx, bucketID, key); err != nil {
		return c, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO object_versions (bucket_id, key_name, seq, version_id, delete_marker, blob_id, size, etag, modified_at)
		VALUES ($1, $2, $3, $4, 1, '', 0, '', $5)`, bucketID, key, seq, vid, ts(at))
	if err != nil {
		return c, fmt.Errorf("insert delete marker: %w", mapErr(err))
	}
	if err := s.removeDirs(ctx, tx, bucketID, key); err != nil {
		return c, err
	}
	c.VersionID = vid
	return c, nil
}

// scanVersion reads versionCols and delete_marker.
func scanVersion(row interface{ Scan(...any) error }) (bucket.Object, error) {
	var dm int
	o, err := scanObjectWith(row, &dm)
	o.DeleteMarker = dm != 0
	return o, err
}

// GetObjectVersion returns the version of key with versionID ("" for the
// null version), current or not; a delete marker comes back as one.
func (s *Store) GetObjectVersion(ctx context.Context, bucketID, key, versionID string) (bucket.Object, error) {
	o, _, err := versionIn(ctx, s.r, bucketID, key, versionID)
	return o, err
}

// versionIn reads the version of key with versionID and names the table
// that holds it.
func versionIn(ctx context.Context, tx rowQuerier, bucketID, key, versionID string) (o bucket.Object, table string, err error) {
	table = "objects"
	o, err = scanObject(tx.QueryRowContext(ctx, "SELECT "+objectCols+" FROM objects WHERE bucket_id = $1 AND key_name = $2 AND version_id = $3",
		bucketID, key, versionID))
	if err == sql.ErrNoRows {
		table = "object_versions"
		o, err = scanVersion(tx.QueryRowContext(ctx, "SELECT "+versionCols+", delete_marker FROM object_versions WHERE bucket_id = $1 AND key_name = $2 AND version_id = $3",
			bucketID, key, versionID))
	}
	if err != nil {
		return o, table, notFound(err, "version", versionID)
	}
	return o, table, nil
}

// DeleteVersion removes one version of key for good and returns it (its
// blob is the caller's to delete), if allow, shown the version in the same
// transaction, lets it. When it was the newest, the next newest becomes
// current, unless that one is a delete marker.
func (s *Store) DeleteVersion(ctx context.Context, bucketID, key, versionID string, allow func(bucket.Object) error) (gone bucket.Object, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockKey(ctx, tx, bucketID, key); err != nil {
			return err
		}
		var table string
		if gone, table, err = versionIn(ctx, tx, bucketID, key, versionID); err != nil {
			return err
		}
		if err := allow(gone); err != nil {
			return err
		}
		st, err := s.bucketStateIn(ctx, tx, bucketID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE bucket_id = $1 AND key_name = $2 AND seq = $3", bucketID, key, gone.Seq); err != nil {
			return fmt.Errorf("delete version: %w", mapErr(err))
		}
		if !gone.DeleteMarker {
			if err := forgetManifest(ctx, tx, gone.Manifest); err != nil {
				return err
			}
			if err := queueRemovals(ctx, tx, gone.Blobs()); err != nil {
				return err
			}
			if err := s.bumpUsage(ctx, tx, bucketID, -gone.Size, -1); err != nil {
				return err
			}
		}
		if err := s.promote(ctx, tx, bucketID, key); err != nil {
			return err
		}
		if table == "objects" {
			// The current version went; the one promoted, if any, keeps
			// the key's directories.
			if err := s.removeDirs(ctx, tx, bucketID, key); err != nil {
				return err
			}
		}
		return queueEvents(ctx, tx, st, bucket.ChangeFacts{Event: bucket.CauseFrom(ctx, bucket.EventRemoved).Event + bucket.RemovedDelete,
			Key: key, VersionID: gone.VersionID, At: time.Now()})
	})
	return gone, err
}

// UpdateLock sets the retention and legal hold of one version of key to
// what change, shown the version in the same transaction, returns.
func (s *Store) UpdateLock(ctx context.Context, bucketID, key, versionID string, change func(bucket.Object) (bucket.Lock, error)) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockKey(ctx, tx, bucketID, key); err != nil {
			return err
		}
		o, table, err := versionIn(ctx, tx, bucketID, key, versionID)
		if err != nil {
			return err
		}
		l, err := change(o)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE "+table+" SET lock_mode = $1, lock_until = $2, legal_hold = $3 WHERE bucket_id = $4 AND key_name = $5 AND seq = $6",
			l.Mode, lockUntil(l), boolInt(l.LegalHold), bucketID, key, o.Seq)
		return mapErr(err)
	})
}

// promote makes key's newest noncurrent version current when key has no
// current version and that newest one is not a delete marker.
func (s *Store) promote(ctx context.Context, tx *sql.Tx, bucketID, key string) error {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM objects WHERE bucket_id = $1 AND key_name = $2", bucketID, key).Scan(&one)
	if err != sql.ErrNoRows {
		return mapErr(err) // nil: a current version exists
	}
	var seq string
	var dm int
	err = tx.QueryRowContext(ctx, "SELECT seq, delete_marker FROM object_versions WHERE bucket_id = $1 AND key_name = $2 ORDER BY seq DESC LIMIT 1",
		bucketID, key).Scan(&seq, &dm)
	if err == sql.ErrNoRows || err == nil && dm != 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find newest version: %w", mapErr(err))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO objects (`+versionCols+`)
		SELECT `+versionCols+` FROM object_versions WHERE bucket_id = $1 AND key_name = $2 AND seq = $3`, bucketID, key, seq); err != nil {
		return fmt.Errorf("promote version: %w", mapErr(err))
	}
	if _, err = tx.ExecContext(ctx, "DELETE FROM object_versions WHERE bucket_id = $1 AND key_name = $2 AND seq = $3", bucketID, key, seq); err != nil {
		return mapErr(err)
	}
	return s.addDirs(ctx, tx, bucketID, key)
}

// ListVersions returns a page of versions and delete markers as q
// describes, in key order and newest first within a key, with what
// listings show (no bytes, tags or encryption). With a delimiter, a
// common prefix is one row of its first key (with no version) found by
// a skip scan over both tables' keys.
func (s *Store) ListVersions(ctx context.Context, bucketID string, vq bucket.VersionQuery) ([]bucket.Object, error) {
	if vq.Limit <= 0 {
		return nil, errs.E(errs.Invalid, "a version listing needs a positive limit")
	}
	start := max(vq.Prefix, vq.From)
	after := vq.AfterKey != "" && vq.AfterKey >= start
	// keys restricts key_name to where the page starts, by key alone.
	keys := func(q *query) {
		switch {
		case after && vq.AfterSeq != "":
			q.add(" AND key_name >= ?", vq.AfterKey)
		case after:
			q.add(" AND key_name > ?", vq.AfterKey)
		case start != "":
			q.add(" AND key_name >= ?", start)
		}
		if end, ok := bucket.PrefixEnd(vq.Prefix); ok {
			q.add(" AND key_name < ?", end)
		}
	}
	where := func(q *query) {
		q.add(" WHERE bucket_id = ?", bucketID)
		keys(q)
		if after && vq.AfterSeq != "" {
			q.add(" AND (key_name > ? OR seq < ?)", vq.AfterKey, vq.AfterSeq)
		}
	}
	q := new(query)
	from := " FROM "
	if vq.Delimiter != "" {
		s.skipScan(q, []string{"objects", "object_versions"}, bucketID, vq.Prefix, vq.Delimiter, keys, vq.Limit)
		// Versions of the keys the walk found that are not common
		// prefixes, and one row for each that is.
		// CROSS JOIN keeps SQLite from scanning the bucket for walk's keys.
		from = " FROM walk CROSS JOIN "
		where = func(q *query) {
			q.add(" WHERE bucket_id = ? AND key_name = walk.k AND ", bucketID)
			s.delimiterAt(q, vq.Prefix, vq.Delimiter)
			q.add(" = 0")
			if after && vq.AfterSeq != "" {
				q.add(" AND (key_name > ? OR seq < ?)", vq.AfterKey, vq.AfterSeq)
			}
		}
	}
	q.add(" SELECT key_name, seq, version_id, 0 AS dm, size, etag, meta, modified_at" + from + "objects")
	where(q)
	q.add(" UNION ALL SELECT key_name, seq, version_id, delete_marker, size, etag, meta, modified_at" + from + "object_versions")
	where(q)
	if vq.Delimiter != "" {
		q.add(" UNION ALL SELECT walk.k, '', '', 0, 0, '', '', 0 FROM walk WHERE walk.k IS NOT NULL AND ")
		s.delimiterAt(q, vq.Prefix, vq.Delimiter)
		q.add(" > 0")
	}
	q.add(" ORDER BY key_name, seq DESC LIMIT ?", vq.Limit)
	return collect(ctx, s.r, q, func(row interface{ Scan(...any) error }) (bucket.Object, error) {
		o := bucket.Object{BucketID: bucketID}
		var meta string
		var mod int64
		var dm int
		if err := row.Scan(&o.Key, &o.Seq, &o.VersionID, &dm, &o.Size, &o.ETag, &meta, &mod); err != nil {
			return o, err
		}
		o.DeleteMarker, o.Modified = dm != 0, fromTS(mod)
		var err error
		o.Meta, err = fromJSON(meta)
		return o, err
	})
}
