package sqlstore

import (
	"strings"
	"unicode/utf8"

	"github.com/stowage/stowage/internal/core/bucket"
)

// skipScan starts q with the CTE walk(k, n): the keys of tables (their
// union) in a bucket that a delimiter listing shows, in order and at most
// limit of them. Those are the first key that from admits (it adds the
// conditions on key_name of the first step), then from each key k the
// next one: the key after k, or when k contains delim after prefix (k is
// the first key of a common prefix) the first key past every key of that
// common prefix. Each step is one index seek per table, so a page of 1000
// common prefixes reads about 1000 index entries however many keys each
// holds; reading them with a query per prefix cost a round trip each,
// and reading a prefix's keys to find the next one grew with the bucket.
//
// Keys are compared as bytes on both engines (COLLATE BINARY, "C"), and
// the common prefix is found by bytes as strings.Index does: SQLite
// compares BLOBs, and PostgreSQL text is valid UTF-8, where finding a
// valid UTF-8 delimiter by characters finds it at the same bytes.
func (s *Store) skipScan(q *query, tables []string, bucketID, prefix, delim string, from func(*query), limit int) {
	// The first key of the tables' union that cond admits.
	first := func(cond func()) {
		if len(tables) > 1 {
			q.add("(SELECT min(x) FROM (")
		}
		for i, t := range tables {
			if i > 0 {
				q.add(" UNION ALL ")
			}
			if len(tables) > 1 {
				q.add("SELECT ")
			}
			q.add("(SELECT key_name FROM "+t+" WHERE bucket_id = ?", bucketID)
			cond()
			q.add(" ORDER BY key_name LIMIT 1)")
			if i == 0 && len(tables) > 1 {
				q.add(" AS x")
			}
		}
		if len(tables) > 1 {
			q.add(") AS u)")
		}
	}
	q.add("WITH RECURSIVE walk(k, n) AS (SELECT ")
	first(func() { from(q) })
	q.add(", 1 UNION ALL SELECT ")
	first(func() {
		// The common prefix is k up to and including the delimiter; the
		// seek bound past it is k up to the delimiter and skipTail(delim).
		// From a key outside any common prefix the bound is the key itself.
		q.add(" AND key_name >= CASE WHEN ")
		s.delimiterAt(q, prefix, delim)
		q.add(" > 0 THEN CAST(substr(" + s.bytes("walk.k") + ", 1, ")
		s.bytesLen(q, prefix)
		q.add(" + ")
		s.delimiterAt(q, prefix, delim)
		q.add(" - 1) || ? AS TEXT) ELSE walk.k END AND key_name <> walk.k", skipTail(delim))
		if end, ok := bucket.PrefixEnd(prefix); ok {
			q.add(" AND key_name < ?", end)
		}
	})
	q.add(", walk.n + 1 FROM walk WHERE walk.k IS NOT NULL AND walk.n < ?)", limit)
}

// delimiterAt adds where delim starts in walk.k after prefix (which walk.k
// starts with), counting from 1, or 0 when it does not occur.
func (s *Store) delimiterAt(q *query, prefix, delim string) {
	find := "strpos"
	if s.engine == SQLite {
		find = "instr"
	}
	q.add(find + "(substr(" + s.bytes("walk.k") + ", ")
	s.bytesLen(q, prefix)
	q.add(" + 1), "+s.bytes("?")+")", delim)
}

// bytesLen adds the length of v in the units substr counts.
func (s *Store) bytesLen(q *query, v string) {
	q.add("length("+s.bytes("?")+")", v)
}

// bytes is expr as the type that length, substr and the search measure
// alike, by bytes or at the same places as bytes: BLOB on SQLite, whose
// text functions count characters of what may not be UTF-8, and text on
// PostgreSQL, which holds only UTF-8.
func (s *Store) bytes(expr string) string {
	if s.engine == SQLite {
		return "CAST(" + expr + " AS BLOB)"
	}
	return "CAST(" + expr + " AS TEXT)"
}

// skipTail is what follows the part of a key before its delimiter in the
// smallest string greater than every key that starts with that part and
// the delimiter: the delimiter's PrefixEnd. A delimiter that has none
// (only U+10FFFF) or is not UTF-8 (S3 refuses those; SQLite could hold
// them) is followed instead by MaxKeyLen bytes of U+10FFFF, the largest UTF-8
// there is: every key is valid UTF-8 of at most MaxKeyLen bytes, so every
// key that starts with the common prefix sorts below that bound, and
// every other key after it above.
func skipTail(delim string) string {
	if end, ok := bucket.PrefixEnd(delim); ok && utf8.ValidString(delim) {
		return end
	}
	return delim + strings.Repeat("\U0010FFFF", bucket.MaxKeyLen/utf8.UTFMax)
}
