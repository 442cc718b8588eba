package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// A row's bytes are held by its blob_id, or by the part blobs its manifest
// column lists (a multipart object completed without copying). These
// helpers keep manifest_blobs, the index of blobs some manifest names, in
// step with the rows, in the transactions that write them.

// manifestValue is the manifest column of a list of part blob ids.
func manifestValue(ids []string) string { return toJSONValue(ids, len(ids) == 0) }

// body is what holds a stored row's bytes, as read inside a transaction.
type body struct {
	blob, manifest string
}

// same reports whether two rows share their bytes (a metadata-only
// replace keeps them).
func (b body) same(o body) bool {
	if b.manifest != "" {
		return b.manifest == o.manifest
	}
	return b.blob != "" && b.blob == o.blob
}

// free forgets b's manifest in manifest_blobs, queues b's blobs for
// removal and returns them: the caller deletes their bytes after commit.
func (b body) free(ctx context.Context, tx *sql.Tx) ([]string, error) {
	var ids []string
	switch {
	case b.manifest != "":
		if err := fromJSONValue(b.manifest, &ids); err != nil {
			return nil, fmt.Errorf("decode manifest: %w", err)
		}
		if err := forgetManifest(ctx, tx, ids); err != nil {
			return nil, err
		}
	case b.blob != "":
		ids = []string{b.blob}
	}
	return ids, queueRemovals(ctx, tx, ids)
}

// manifestBatch bounds the placeholders of one statement (SQLite allows
// 32766, PostgreSQL 65535); an upload has at most 10,000 parts.
const manifestBatch = 1000

// recordManifest indexes the blobs of a manifest being committed. A
// metadata-only replace records the same ids again, which is not an error.
func recordManifest(ctx context.Context, tx *sql.Tx, ids []string) error {
	return inBatches(ids, func(args []any) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO manifest_blobs (blob_id) VALUES "+valueRows(len(args), "")+" ON CONFLICT (blob_id) DO NOTHING", args...)
		if err != nil {
			return fmt.Errorf("record manifest: %w", mapErr(err))
		}
		return nil
	})
}

// forgetManifest removes the index rows of a manifest whose row is gone.
func forgetManifest(ctx context.Context, tx *sql.Tx, ids []string) error {
	return inBatches(ids, func(args []any) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM manifest_blobs WHERE blob_id IN ("+inList(len(args))+")", args...); err != nil {
			return fmt.Errorf("forget manifest: %w", mapErr(err))
		}
		return nil
	})
}

// inBatches calls f with the arguments of successive slices of ids.
func inBatches(ids []string, f func(args []any) error) error {
	for len(ids) > 0 {
		batch := ids[:min(len(ids), manifestBatch)]
		ids = ids[len(batch):]
		args := make([]any, len(batch))
		for i, id := range batch {
			args[i] = id
		}
		if err := f(args); err != nil {
			return err
		}
	}
	return nil
}

// inList is "$1, $2, …, $n".
func inList(n int) string {
	ph := make([]string, n)
	for i := range ph {
		ph[i] = fmt.Sprintf("$%d", i+1)
	}
	return strings.Join(ph, ", ")
}

// valueRows is "($1<extra>), ($2<extra>), …" for a multi-row INSERT whose
// other columns are the same constant expression on every row.
func valueRows(n int, extra string) string {
	rows := make([]string, n)
	for i := range rows {
		rows[i] = fmt.Sprintf("($%d%s)", i+1, extra)
	}
	return strings.Join(rows, ", ")
}
