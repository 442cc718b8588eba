package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrationLockID is the PostgreSQL advisory lock nodes take while they
// migrate: of several nodes starting together on one database, one
// applies the migrations and the others wait, then find nothing to do.
// ("stowage" in ASCII.)
const migrationLockID = 0x73746f77616765

// SchemaVersion is the newest migration this binary carries: the schema
// version a database has once this binary opened it.
func SchemaVersion() int64 {
	var newest int64
	_ = fs.WalkDir(migrations, "migrations", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		num, _, _ := strings.Cut(path.Base(p), "_")
		if v, err := strconv.ParseInt(num, 10, 64); err == nil && v > newest {
			newest = v
		}
		return nil
	})
	return newest
}

// migrate applies pending migrations, forward only: a database whose
// schema is newer than this binary knows (a downgrade) is refused before
// anything runs, since no binary ever migrates down.
func (s *Store) migrate(ctx context.Context) error {
	dialect, dir := goose.DialectSQLite3, "migrations/sqlite"
	var opts []goose.ProviderOption
	if s.engine == Postgres {
		dialect, dir = goose.DialectPostgres, "migrations/postgres"
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID))
		if err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(dialect, s.w, sub, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if err := refuseNewer(ctx, s.w, SchemaVersion()); err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// refuseNewer fails when the database records a migration newer than
// known. A database goose never touched has no version table: nothing to
// refuse.
func refuseNewer(ctx context.Context, db *sql.DB, known int64) error {
	var v sql.NullInt64
	err := db.QueryRowContext(ctx, "SELECT MAX(version_id) FROM goose_db_version WHERE is_applied").Scan(&v)
	if err != nil {
		if strings.Contains(err.Error(), "goose_db_version") {
			return nil
		}
		return fmt.Errorf("read the schema version: %w", err)
	}
	if v.Int64 > known {
		return fmt.Errorf("the database's schema is version %d, newer than this binary's %d: "+
			"migrations only go forward, so run the newer binary, or restore the backup taken before the upgrade", v.Int64, known)
	}
	return nil
}

// ErrNotSQLite is Backup's answer for PostgreSQL, whose own tools
// (pg_dump, pg_basebackup, PITR) back it up consistently.
var ErrNotSQLite = errors.New("the metadata is in PostgreSQL: back it up with PostgreSQL's own tools (pg_dump -Fc, or pg_basebackup with WAL archiving)")

// Backup writes a consistent copy of the SQLite database dsn names to
// dest while nodes keep serving: VACUUM INTO reads one snapshot (a read
// transaction, which WAL mode lets run beside the writer) into a new,
// compact file. The copy is written next to dest and renamed, so dest is
// either the old file or a whole backup. It returns the copy's schema
// version. Nothing is migrated: an older binary may back up a newer
// node's database.
func Backup(ctx context.Context, dsn, dest string) (int64, error) {
	src, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok {
		return 0, ErrNotSQLite
	}
	if _, err := os.Stat(src); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: src}).EscapedPath()+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, fmt.Errorf("backup: open %s: %w", src, err)
	}
	defer db.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".*")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	os.Remove(tmpName) // VACUUM INTO wants to create the file itself
	defer os.Remove(tmpName)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", tmpName); err != nil {
		return 0, fmt.Errorf("backup: VACUUM INTO: %w", err)
	}
	version, err := backupVersion(ctx, tmpName)
	if err != nil {
		return 0, err
	}
	if err := syncFile(tmpName); err != nil {
		return 0, err
	}
	if err := os.Rename(tmpName, dest); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return version, nil
}

// backupVersion checks the copy is a whole database and reads its schema
// version.
func backupVersion(ctx context.Context, file string) (int64, error) {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: file}).EscapedPath()+"?mode=ro")
	if err != nil {
		return 0, fmt.Errorf("backup: check copy: %w", err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		return 0, fmt.Errorf("backup: the copy fails its integrity check: %v %s", err, ok)
	}
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT MAX(version_id) FROM goose_db_version WHERE is_applied").Scan(&v); err != nil {
		return 0, fmt.Errorf("backup: read the copy's schema version: %w", err)
	}
	return v.Int64, nil
}

func syncFile(name string) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}
