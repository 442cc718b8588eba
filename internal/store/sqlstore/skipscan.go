package sqlstore

import (
	"strings"
	"unicode/utf8"

	"github.com/stowage/stowage/internal/core/bucket"
)

// skipScan starts q with the CTE walk(k, n): the keys of table's bucket
// that a delimiter listing shows, in order and at most limit of them.
// Those are the first key after after under prefix, then from each key k
// the next one: the key after k, or when k contains delim after prefix
// (k is the first key of a common prefix) the first key past every key
// of that common prefix. Each step is one index seek, so a page of 1000
// common prefixes reads about 1000 index entries however many keys each
// holds; reading them with a query per prefix cost a round trip each,
// and reading a prefix's keys to find the next one grew with the bucket.
//
// Keys are compared as bytes on both engines (COLLATE BINARY, "C"), and
// the common prefix is found by bytes as strings.Index does: SQLite
// compares BLOBs, and PostgreSQL text is valid UTF-8, where finding a
// valid UTF-8 delimiter by characters finds it at the same bytes.
func (s *Store) skipScan(q *query, table, bucketID, prefix, after, delim string, limit int) {
	// k, the text type and the search function that find delim by bytes.
	k, typ, find := "walk.k", "TEXT", "strpos"
	if s.engine == SQLite {
		k, typ, find = "CAST(walk.k AS BLOB)", "BLOB", "instr"
	}
	plen := "length(CAST(? AS " + typ + "))"
	pos := find + "(substr(" + k + ", " + plen + " + 1), CAST(? AS " + typ + "))"
	// The common prefix is k up to and including the delimiter; the seek
	// bound past it is k up to the delimiter followed by skipTail(delim).
	next := "CASE WHEN " + pos + " > 0 THEN CAST(substr(" + k + ", 1, " + plen + " + " + pos + " - 1) || ? AS TEXT) ELSE walk.k END"

	q.add("WITH RECURSIVE walk(k, n) AS (SELECT (SELECT key_name FROM "+table+" WHERE bucket_id = ?", bucketID)
	keyRange(q, prefix, after)
	q.add(" ORDER BY key_name LIMIT 1), 1")
	q.add(" UNION ALL SELECT (SELECT key_name FROM "+table+" WHERE bucket_id = ?", bucketID)
	q.add(" AND key_name >= "+next, prefix, delim, prefix, prefix, delim, skipTail(delim))
	// From a key outside any common prefix the bound is the key itself.
	q.add(" AND key_name <> walk.k")
	if end, ok := bucket.PrefixEnd(prefix); ok {
		q.add(" AND key_name < ?", end)
	}
	q.add(" ORDER BY key_name LIMIT 1), walk.n + 1 FROM walk WHERE walk.k IS NOT NULL AND walk.n < ?)", limit)
}

// skipTail is what follows the part of a key before its delimiter in the
// smallest string greater than every key that starts with that part and
// the delimiter: the delimiter's PrefixEnd. A delimiter that has none
// (only U+10FFFF) or is not UTF-8 (which only SQLite can be asked for)
// is followed instead by MaxKeyLen bytes of U+10FFFF, the largest UTF-8
// there is: every key is valid UTF-8 of at most MaxKeyLen bytes, so every
// key that starts with the common prefix sorts below that bound, and
// every other key after it above.
func skipTail(delim string) string {
	if end, ok := bucket.PrefixEnd(delim); ok && utf8.ValidString(delim) {
		return end
	}
	return delim + strings.Repeat("\U0010FFFF", bucket.MaxKeyLen/utf8.UTFMax)
}
