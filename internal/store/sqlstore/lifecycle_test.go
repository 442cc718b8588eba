package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stowage/stowage/internal/store/sqlstore"
	"github.com/stowage/stowage/internal/testenv"
)

// TestMigrationsRunOnce starts several nodes' stores together on one
// empty PostgreSQL database: all open, and each migration was applied
// once (without the lock they race to create the same tables and all but
// one fail).
func TestMigrationsRunOnce(t *testing.T) {
	dsn := testenv.FreshPostgres(t)
	ctx := context.Background()
	const nodes = 3
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	start := make(chan struct{})
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			st, err := sqlstore.Open(ctx, dsn)
			if err == nil {
				err = st.Close()
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var dup int
	if err := db.QueryRow("SELECT COUNT(*) FROM (SELECT version_id FROM goose_db_version GROUP BY version_id HAVING COUNT(*) > 1) d").Scan(&dup); err != nil {
		t.Fatal(err)
	}
	var newest int64
	if err := db.QueryRow("SELECT MAX(version_id) FROM goose_db_version").Scan(&newest); err != nil {
		t.Fatal(err)
	}
	if dup != 0 || newest != sqlstore.SchemaVersion() {
		t.Fatalf("%d migrations applied more than once; newest %d, want %d", dup, newest, sqlstore.SchemaVersion())
	}
}

// engines are a fresh database of each engine, by name.
func engines(t *testing.T) map[string]string {
	return map[string]string{
		"sqlite":   "sqlite:" + filepath.Join(t.TempDir(), "stowage.db"),
		"postgres": testenv.FreshPostgres(t),
	}
}

// TestNewerSchemaRefused: a binary never opens a database a newer one
// migrated (no migration runs down), on either engine, and says why.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	for engine, dsn := range engines(t) {
		st, err := sqlstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		driver, name := "sqlite", strings.TrimPrefix(dsn, "sqlite:")
		if engine == "postgres" {
			driver, name = "pgx", dsn
		}
		db, err := sql.Open(driver, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)", sqlstore.SchemaVersion()+1); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if st, err := sqlstore.Open(ctx, dsn); err == nil {
			st.Close()
			t.Errorf("%s: opened a database of a newer schema", engine)
		} else if !strings.Contains(err.Error(), "newer than this binary") {
			t.Errorf("%s: %v", engine, err)
		}
	}
}
