package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/stowage/stowage/internal/core/bucket"
)

// This file keeps object_dirs, the directories of a bucket's current
// keys, and lists a directory with them: ListObjects with delimiter "/"
// at the bucket's top or at a prefix ending in "/" (what `aws s3 ls`
// and every file browser ask) reads the directory's keys and its
// subdirectories as two ordered ranges, where the skip scan seeks once
// per common prefix (7-10 µs each on PostgreSQL, whose btree reads the
// rest of a leaf page even for LIMIT 1).
//
// A directory is a prefix of a key of objects that ends in "/" (the key
// itself too when it ends in "/": that key rolls up into the common
// prefix it spells). The rows change in the transaction that adds or
// removes a key of objects, after that transaction has read its
// bucket's row FOR UPDATE (bucketStateIn): on PostgreSQL that lock
// orders every write of a bucket's objects, so the check that a
// directory has no key left and the PUT of a key into it never
// interleave (each statement after the lock sees what the writer before
// committed), and SQLite has one writer. No other lock is taken.

// dirnameSQL is a key's directory: up to and including its last "/",
// "" without one (rtrim drops the trailing characters that are not "/";
// keys are valid UTF-8, bucket.ValidKey, so characters and bytes agree
// on both engines). objects_dirname indexes this expression; a query
// must spell it the same for the planner to use the index.
const dirnameSQL = "rtrim(key_name, replace(key_name, '/', ''))"

// sqlAddDir records a directory; prepared on SQLite's writer, as it runs
// on every PUT of a new key.
const sqlAddDir = "INSERT INTO object_dirs (bucket_id, parent, dir) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"

// dirsOf returns the directories key is in, from the top down.
func dirsOf(key string) []string {
	var dirs []string
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			dirs = append(dirs, key[:i+1])
		}
	}
	return dirs
}

// parentDir is the directory dir (which ends in "/") is in, "" at the top.
func parentDir(dir string) string {
	d := dir[:len(dir)-1]
	return d[:strings.LastIndexByte(d, '/')+1]
}

// addDirs records the directories of key, just added to objects. A
// directory that exists has its parents (it has a key, which they hold
// too), so the deepest one that exists ends the climb: a PUT into an
// existing directory costs one statement.
func (s *Store) addDirs(ctx context.Context, tx *sql.Tx, bucketID, key string) error {
	dirs := dirsOf(key)
	for i := len(dirs) - 1; i >= 0; i-- {
		res, err := s.txExec(ctx, tx, sqlAddDir, bucketID, parentDir(dirs[i]), dirs[i])
		if err != nil {
			return fmt.Errorf("record directory: %w", mapErr(err))
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return mapErr(err)
		}
	}
	return nil
}

// removeDirs drops the directories of key, just removed from objects,
// that no key of objects is in any more, from the deepest up: the first
// that still holds a key ends the climb.
func (s *Store) removeDirs(ctx context.Context, tx *sql.Tx, bucketID, key string) error {
	dirs := dirsOf(key)
	for i := len(dirs) - 1; i >= 0; i-- {
		end, _ := bucket.PrefixEnd(dirs[i]) // a string ending in "/" has one
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM objects WHERE bucket_id = $1 AND key_name >= $2 AND key_name < $3 LIMIT 1",
			bucketID, dirs[i], end).Scan(&one)
		if err == nil {
			return nil
		}
		if err != sql.ErrNoRows {
			return fmt.Errorf("look into directory: %w", mapErr(err))
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM object_dirs WHERE bucket_id = $1 AND dir = $2", bucketID, dirs[i]); err != nil {
			return fmt.Errorf("drop directory: %w", mapErr(err))
		}
	}
	return nil
}

// dirListing reports whether listDir serves lq: delimiter "/" at the top
// or at a directory.
func dirListing(lq bucket.ListQuery) bool {
	return lq.Delimiter == "/" && (lq.Prefix == "" || strings.HasSuffix(lq.Prefix, "/"))
}

// listDir is ListObjects for dirListing's queries, in one statement of
// three ordered reads: the directory's keys after lq.After (by
// objects_dirname), its subdirectories after lq.After (by
// object_dirs_parent), each returned as a row of the subdirectory's
// name alone, and when lq.After is inside a subdirectory the first key
// of it after lq.After, alone, as the skip scan returns that common
// prefix. The rows merge in key order: a subdirectory sorts among the
// keys as its keys do, since none of them starts with it.
func (s *Store) listDir(ctx context.Context, bucketID string, lq bucket.ListQuery) ([]bucket.Object, error) {
	after := lq.After != "" && lq.After >= lq.Prefix
	q := new(query)
	if after && strings.HasPrefix(lq.After, lq.Prefix) {
		if i := strings.IndexByte(lq.After[len(lq.Prefix):], '/'); i >= 0 {
			end, _ := bucket.PrefixEnd(lq.After[:len(lq.Prefix)+i+1])
			q.add("SELECT 0, f.key_name, 0, '', '', 0 FROM (SELECT key_name FROM objects WHERE bucket_id = ? AND key_name > ? AND key_name < ?"+
				" ORDER BY key_name LIMIT 1) AS f UNION ALL ", bucketID, lq.After, end)
		}
	}
	q.add("SELECT 1, k.* FROM (SELECT "+listedCols+" FROM objects WHERE bucket_id = ? AND "+dirnameSQL+" = ?", bucketID, lq.Prefix)
	if after {
		q.add(" AND key_name > ?", lq.After)
	}
	q.add(" ORDER BY key_name LIMIT ?) AS k UNION ALL SELECT 2, d.dir, 0, '', '', 0 FROM (SELECT dir FROM object_dirs WHERE bucket_id = ? AND parent = ?",
		lq.Limit, bucketID, lq.Prefix)
	if after {
		q.add(" AND dir > ?", lq.After)
	}
	q.add(" ORDER BY dir LIMIT ?) AS d", lq.Limit)
	rows, err := s.r.QueryContext(ctx, q.String(), q.args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var all []bucket.Object
	var arms []int
	for rows.Next() {
		var arm int
		o, err := scanListed(bucketID, arm0{&arm, rows})
		if err != nil {
			return nil, mapErr(err)
		}
		all, arms = append(all, o), append(arms, arm)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	// The reads are each in order, and the arms of a union come back in
	// turn on both engines, though SQL does not promise it: then the key
	// in lq.After's subdirectory (before every other: they are after
	// lq.After and not in it) comes first, and the keys and the
	// subdirectories, merged, follow. Otherwise the rows are sorted.
	byKey := func(a, b bucket.Object) int { return strings.Compare(a.Key, b.Key) }
	keys, _ := slices.BinarySearch(arms, 1) // where the keys start
	dirs, _ := slices.BinarySearch(arms, 2) // and the subdirectories
	switch {
	case !slices.IsSorted(arms) || !slices.IsSortedFunc(all[keys:dirs], byKey) || !slices.IsSortedFunc(all[dirs:], byKey):
		slices.SortFunc(all, byKey)
	case keys < dirs && dirs < len(all) && all[dirs-1].Key > all[dirs].Key:
		out := append(make([]bucket.Object, 0, min(lq.Limit, len(all))), all[:keys]...)
		k, d := all[keys:dirs], all[dirs:]
		for len(out) < lq.Limit && (len(k) > 0 || len(d) > 0) {
			if len(d) == 0 || len(k) > 0 && k[0].Key < d[0].Key {
				out, k = append(out, k[0]), k[1:]
			} else {
				out, d = append(out, d[0]), d[1:]
			}
		}
		all = out
	}
	return all[:min(lq.Limit, len(all))], nil
}

// arm0 scans a row's first column, which says which read it came from,
// then hands the rest to the listing's scan.
type arm0 struct {
	arm  *int
	rows *sql.Rows
}

func (a arm0) Scan(dest ...any) error { return a.rows.Scan(append([]any{a.arm}, dest...)...) }
