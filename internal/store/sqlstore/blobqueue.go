package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Blob garbage without listing the storage: an intent row per blob being
// written (BeginBlob), deleted by the commit that takes the blob, and a
// removal row per blob a commit freed, queued in that commit. The sweeper
// (objectstore.Sweep) works through both.

// BeginBlob records that blob id is about to be written, or that a long
// write of it is still going (the row's time moves on).
func (s *Store) BeginBlob(ctx context.Context, id string) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO blob_intents (blob_id, created_at) VALUES ($1, $2)
		ON CONFLICT (blob_id) DO UPDATE SET created_at = excluded.created_at`, id, ts(time.Now()))
	if err != nil {
		return fmt.Errorf("record blob intent: %w", mapErr(err))
	}
	return nil
}

// takeBlob ends the intent of a blob the transaction commits.
func (s *Store) takeBlob(ctx context.Context, tx *sql.Tx, id string) error {
	if id == "" {
		return nil
	}
	if _, err := s.txExec(ctx, tx, sqlEndIntent, id); err != nil {
		return fmt.Errorf("end blob intent: %w", mapErr(err))
	}
	return nil
}

// queueRemovals queues the blobs a transaction frees.
func queueRemovals(ctx context.Context, tx *sql.Tx, ids []string) error {
	now := fmt.Sprintf(", %d", ts(time.Now()))
	return inBatches(ids, func(args []any) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO blob_removals (blob_id, queued_at) VALUES "+valueRows(len(args), now)+
			" ON CONFLICT (blob_id) DO NOTHING", args...)
		if err != nil {
			return fmt.Errorf("queue blob removals: %w", mapErr(err))
		}
		return nil
	})
}

// StaleIntents lists up to limit blobs whose intent is older than before.
func (s *Store) StaleIntents(ctx context.Context, before time.Time, limit int) ([]string, error) {
	return blobIDs(ctx, s.r, "SELECT blob_id FROM blob_intents WHERE created_at < $1 ORDER BY created_at LIMIT $2", ts(before), limit)
}

// DropIntent claims a stale intent for removal: it reports whether this
// call deleted the row while it was still older than before (a commit, or
// the write touching it again, wins otherwise).
func (s *Store) DropIntent(ctx context.Context, id string, before time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, "DELETE FROM blob_intents WHERE blob_id = $1 AND created_at < $2", id, ts(before))
	if err != nil {
		return false, fmt.Errorf("drop blob intent: %w", mapErr(err))
	}
	n, err := res.RowsAffected()
	return n == 1, mapErr(err)
}

// QueuedRemovals lists up to limit blobs freed by committed transactions.
func (s *Store) QueuedRemovals(ctx context.Context, limit int) ([]string, error) {
	return blobIDs(ctx, s.r, "SELECT blob_id FROM blob_removals ORDER BY queued_at LIMIT $1", limit)
}

// RemovalsDone forgets queued blobs whose bytes are gone.
func (s *Store) RemovalsDone(ctx context.Context, ids []string) error {
	return inBatches(ids, func(args []any) error {
		if _, err := s.w.ExecContext(ctx, "DELETE FROM blob_removals WHERE blob_id IN ("+inList(len(args))+")", args...); err != nil {
			return fmt.Errorf("forget blob removals: %w", mapErr(err))
		}
		return nil
	})
}

// BlobQueueCounts is how many intents and removals are pending.
func (s *Store) BlobQueueCounts(ctx context.Context) (intents, removals int64, err error) {
	err = s.r.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM blob_intents), (SELECT COUNT(*) FROM blob_removals)").Scan(&intents, &removals)
	return intents, removals, mapErr(err)
}

// blobIDs runs a query of one text column (blob ids) in db or a tx.
func blobIDs(ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, id)
	}
	return out, mapErr(rows.Err())
}
