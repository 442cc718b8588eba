package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/errs"
)

// ExpireObjects deletes, as DeleteObject does (a delete marker in a
// versioned bucket), those of listed that are still key's current version
// as listed (same Modified) and are not locked, all in one transaction:
// the lifecycle job expires thousands of objects, and a transaction each
// cost a commit (an fsync) each and held the one SQLite writer between
// foreground writes for longer than the deletes themselves. An object
// rewritten since it was listed, gone, or locked is skipped, so a pass
// never expires what it did not judge. It returns how many it expired and
// the blobs the caller deletes after commit.
func (s *Store) ExpireObjects(ctx context.Context, bucketID string, listed []bucket.Object, at time.Time) (expired int, freed []string, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		expired, freed = 0, nil
		st, err := s.bucketStateIn(ctx, tx, bucketID)
		if err != nil {
			return err
		}
		versioning := st.versioning
		// Each expiry announces its event in this transaction, as
		// DeleteObject does (the lifecycle job's cause names the family).
		family := bucket.CauseFrom(ctx, bucket.EventRemoved).Event
		var bytes int64
		for _, o := range listed {
			if err := s.lockKey(ctx, tx, bucketID, o.Key); err != nil {
				return err
			}
			var old body
			var size, mod, until int64
			var mode string
			var hold int
			err := tx.QueryRowContext(ctx, "SELECT blob_id, manifest, size, modified_at, lock_mode, lock_until, legal_hold FROM objects WHERE bucket_id = $1 AND key_name = $2",
				bucketID, o.Key).Scan(&old.blob, &old.manifest, &size, &mod, &mode, &until, &hold)
			if err == sql.ErrNoRows {
				continue
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", o.Key, mapErr(err))
			}
			lock := bucket.Lock{Mode: mode, LegalHold: hold != 0}
			if until != 0 {
				lock.Until = fromTS(until)
			}
			if mod != ts(o.Modified) || lock.LegalHold || lock.Retained(at) {
				continue
			}
			if versioning != "" {
				c, err := s.expireVersioned(ctx, tx, bucketID, o.Key, versioning, at)
				if err != nil {
					return err
				}
				if c != nil {
					freed = append(freed, c.Freed...)
					expired++
					if err := queueEvents(ctx, tx, st, bucket.ChangeFacts{Event: family + bucket.RemovedMarker, Key: o.Key, VersionID: c.VersionID, At: at}); err != nil {
						return err
					}
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM objects WHERE bucket_id = $1 AND key_name = $2", bucketID, o.Key); err != nil {
				return fmt.Errorf("delete object: %w", mapErr(err))
			}
			if err := s.removeDirs(ctx, tx, bucketID, o.Key); err != nil {
				return err
			}
			f, err := old.free(ctx, tx)
			if err != nil {
				return err
			}
			freed = append(freed, f...)
			bytes += size
			expired++
			if err := queueEvents(ctx, tx, st, bucket.ChangeFacts{Event: family + bucket.RemovedDelete, Key: o.Key, At: at}); err != nil {
				return err
			}
		}
		if versioning != "" || expired == 0 {
			return nil // a delete marker moves the counters itself, if at all
		}
		return s.bumpUsage(ctx, tx, bucketID, -bytes, -int64(expired))
	})
	if err != nil {
		return 0, nil, err
	}
	return expired, freed, nil
}

// Checkpoint copies SQLite's write-ahead log into the database now (a
// no-op on PostgreSQL). A background job that writes much calls it in
// its own time: left to the automatic checkpoint, the foreground commit
// that crosses the log's threshold copies the job's pages and waits for
// their fsync.
func (s *Store) Checkpoint(ctx context.Context) error {
	if s.engine != SQLite {
		return nil
	}
	if _, err := s.w.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		return fmt.Errorf("checkpoint: %w", mapErr(err))
	}
	return nil
}

// expireVersioned puts a delete marker on key in its own savepoint: with
// versioning suspended it replaces a null version, which may be locked,
// and that one key is then left as it is while the rest of the batch
// goes on. It returns the marker's commit, nil when the key was left.
func (s *Store) expireVersioned(ctx context.Context, tx *sql.Tx, bucketID, key, versioning string, at time.Time) (*bucket.Committed, error) {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT expire_object"); err != nil {
		return nil, fmt.Errorf("savepoint: %w", mapErr(err))
	}
	c, err := s.putDeleteMarker(ctx, tx, bucketID, key, versioning, at)
	if err != nil {
		if errs.KindOf(err) != errs.Permission {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, "ROLLBACK TO expire_object"); err != nil {
			return nil, fmt.Errorf("rollback to savepoint: %w", mapErr(err))
		}
	}
	if _, err := tx.ExecContext(ctx, "RELEASE expire_object"); err != nil {
		return nil, fmt.Errorf("release savepoint: %w", mapErr(err))
	}
	if err != nil {
		return nil, nil
	}
	return &c, nil
}
