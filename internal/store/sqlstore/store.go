// Package sqlstore owns persistence: one database/sql implementation of the
// core's store interfaces for SQLite (embedded default) and PostgreSQL
// (scale-out), with the same $N SQL on both and goose migrations embedded per
// engine. It maps database errors to errs kinds and applies every caller
// scope inside the query, never after it.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"github.com/stowage/stowage/internal/errs"
)

//go:embed migrations
var migrations embed.FS

// Engine names the database behind a Store.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// Store implements the core store interfaces.
type Store struct {
	engine Engine
	// w takes every write. On SQLite it is one connection whose transactions
	// begin IMMEDIATE: SQLite has one writer anyway, and deferred
	// transactions that upgrade to write fail with SQLITE_BUSY under load.
	w *sql.DB
	// r serves reads; on PostgreSQL it is the same pool as w.
	r *sql.DB
	// stmts caches prepared statements of the hot read paths (S3 key,
	// bucket and object lookups), which otherwise re-parse their SQL on
	// every request.
	stmts sync.Map // query text → *sql.Stmt
	// wstmts holds the statements of the object-commit path, prepared
	// once on SQLite's one writer connection (prepareWrites): parsing
	// them anew was a fifth of a small PUT's CPU. Read-only after Open.
	wstmts map[string]*sql.Stmt
	// puts groups concurrent object commits on SQLite.
	puts putGroup
	// hot caches access keys and bucket configurations for the S3 plane.
	hot hotCache
	// bus carries invalidations between nodes on PostgreSQL (notify.go).
	bus bus
}

// Open connects to dsn ("sqlite:PATH" or "postgres://…") and applies
// pending migrations.
func Open(ctx context.Context, dsn string) (*Store, error) {
	s, err := open(dsn)
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepareWrites(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// prepareWrites prepares the statements of an object commit on SQLite's
// writer; pgx caches every statement per connection itself.
func (s *Store) prepareWrites(ctx context.Context) error {
	if s.engine != SQLite {
		return nil
	}
	s.wstmts = map[string]*sql.Stmt{}
	for _, q := range []string{sqlSavepointPut, sqlRollbackPut, sqlReleasePut, sqlBucketState, sqlObjectBody,
		sqlInsertObject, sqlUpdateObject, sqlBumpUsage, sqlEndIntent, sqlAddDir} {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, mapErr(err))
		}
		s.wstmts[q] = st
	}
	return nil
}

// txExec runs query in tx, through its prepared statement when it is one
// of prepareWrites'.
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := s.wstmts[query]; st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// txRow is txExec for a query of one row.
func (s *Store) txRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := s.wstmts[query]; st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

func open(dsn string) (*Store, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db.SetMaxOpenConns(32)
		db.SetMaxIdleConns(8)
		st := &Store{engine: Postgres, w: db, r: db, bus: bus{dsn: dsn, acks: map[string]*pendingAcks{}}}
		st.hot.off = true // until Listen hears other nodes
		return st, nil
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// synchronous(FULL): a commit that returned is on disk, which is what
		// "acknowledged" means to S3 clients and job callers.
		pragmas := "_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
		u := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + pragmas
		w, err := sql.Open("sqlite", u+"&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		w.SetMaxOpenConns(1)
		r, err := sql.Open("sqlite", u)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		r.SetMaxOpenConns(8)
		// Keep them all: database/sql keeps two idle by default and closes
		// the rest, and every new SQLite connection re-parses the whole
		// schema and re-prepares the hot statements (a quarter of the CPU
		// of small GETs before this).
		r.SetMaxIdleConns(8)
		return &Store{engine: SQLite, w: w, r: r}, nil
	}
	return nil, fmt.Errorf("database %q: want sqlite:PATH or postgres://…", dsn)
}

// Engine reports which database this is.
func (s *Store) Engine() Engine { return s.engine }

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// hotRow runs a read query through a cached prepared statement.
func (s *Store) hotRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt).QueryRowContext(ctx, args...)
	}
	st, err := s.r.PrepareContext(ctx, query)
	if err != nil {
		return s.r.QueryRowContext(ctx, query, args...) // reports the same error
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		st = prev.(*sql.Stmt)
	}
	return st.QueryRowContext(ctx, args...)
}

// Close is idempotent.
func (s *Store) Close() error {
	for _, st := range s.wstmts {
		st.Close()
	}
	s.wstmts = nil
	s.stmts.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		s.stmts.Delete(k)
		return true
	})
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// tx runs fn in a write transaction and commits it if fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	if err := fn(t); err != nil {
		_ = t.Rollback()
		return mapErr(err)
	}
	return mapErr(t.Commit())
}

// mapErr turns driver errors callers branch on into errs kinds; anything
// else passes through wrapped as Internal by the caller's context. Errors
// that already have a kind keep it.
func mapErr(err error) error {
	if err == nil || errs.KindOf(err) != errs.Internal {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return errs.Wrap(errs.NotExist, "not found", err)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "UNIQUE constraint failed"), strings.Contains(msg, "SQLSTATE 23505"),
		strings.Contains(msg, "constraint failed: PRIMARY KEY"):
		return errs.Wrap(errs.Exist, "already exists", err)
	case strings.Contains(msg, "FOREIGN KEY constraint failed"), strings.Contains(msg, "SQLSTATE 23503"):
		return errs.Wrap(errs.Conflict, "a referenced resource does not exist or is still in use", err)
	case strings.Contains(msg, "SQLSTATE 22021"), strings.Contains(msg, "SQLSTATE 22P05"):
		// PostgreSQL TEXT holds neither NUL nor invalid UTF-8, which
		// SQLite stores: the client sent text no row can hold.
		return errs.Wrap(errs.Invalid, "text must be valid UTF-8 without NUL characters", err)
	case strings.Contains(msg, "database or disk is full"), strings.Contains(msg, "SQLSTATE 53100"):
		// SQLITE_FULL, or PostgreSQL's disk_full: the store is intact,
		// only out of room.
		return errs.Wrap(errs.NoSpace, "the database's disk is full", err)
	case strings.Contains(msg, "SQLITE_BUSY"), strings.Contains(msg, "database is locked"):
		return errs.Wrap(errs.Unavailable, "database busy", err)
	}
	return err
}

// notFound maps sql.ErrNoRows to a NotExist error naming the thing.
func notFound(err error, what, id string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return errs.Wrap(errs.NotExist, fmt.Sprintf("%s %s not found", what, id), err)
	}
	return mapErr(err)
}

// Times are stored as unix microseconds on both engines.
func ts(t time.Time) int64 { return t.UnixMicro() }

func fromTS(v int64) time.Time { return time.UnixMicro(v).UTC() }

func tsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromTSPtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromTS(v.Int64)
	return &t
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// query builds SQL with $N placeholders numbered as arguments are added.
type query struct {
	b    strings.Builder
	args []any
}

func (q *query) add(sql string, args ...any) *query {
	// Each "?" in sql becomes the next $N.
	for _, part := range strings.SplitAfter(sql, "?") {
		if strings.HasSuffix(part, "?") && len(args) > 0 {
			q.b.WriteString(part[:len(part)-1])
			q.args = append(q.args, args[0])
			args = args[1:]
			fmt.Fprintf(&q.b, "$%d", len(q.args))
			continue
		}
		q.b.WriteString(part)
	}
	return q
}

func (q *query) String() string { return q.b.String() }

// eq appends "AND col = v" when v is set: the shape of every optional
// equality filter.
func (q *query) eq(col, v string) *query {
	if v != "" {
		q.add(" AND "+col+" = ?", v)
	}
	return q
}
