package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stowage/stowage/internal/store/sqlstore"
	"github.com/stowage/stowage/internal/testenv"
)

// column is the engine-neutral shape of a column.
type column struct {
	Type    string
	NotNull bool
}

type schema struct {
	Columns map[string]column // "table.column"
	Indexes []string
}

func typeClass(t string) string {
	t = strings.ToLower(t)
	switch {
	case strings.Contains(t, "int"):
		return "integer"
	case strings.Contains(t, "bool"):
		return "boolean"
	case strings.Contains(t, "blob"), strings.Contains(t, "bytea"):
		return "bytes"
	case strings.Contains(t, "text"), strings.Contains(t, "char"):
		return "text"
	}
	return t
}

func sqliteSchema(t *testing.T, db *sql.DB) schema {
	s := schema{Columns: map[string]column{}}
	rows, err := db.Query(`SELECT m.name, p.name, p.type, p."notnull", p.pk FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> 'goose_db_version'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, col, typ string
		var notnull, pk int
		if err := rows.Scan(&table, &col, &typ, &notnull, &pk); err != nil {
			t.Fatal(err)
		}
		// PostgreSQL makes primary-key columns NOT NULL implicitly.
		s.Columns[table+"."+col] = column{Type: typeClass(typ), NotNull: notnull == 1 || pk > 0}
	}
	idx, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	for idx.Next() {
		var n string
		if err := idx.Scan(&n); err != nil {
			t.Fatal(err)
		}
		s.Indexes = append(s.Indexes, n)
	}
	sort.Strings(s.Indexes)
	return s
}

func postgresSchema(t *testing.T, db *sql.DB) schema {
	s := schema{Columns: map[string]column{}}
	rows, err := db.Query(`SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name <> 'goose_db_version'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, col, typ, nullable string
		if err := rows.Scan(&table, &col, &typ, &nullable); err != nil {
			t.Fatal(err)
		}
		s.Columns[table+"."+col] = column{Type: typeClass(typ), NotNull: nullable == "NO"}
	}
	idx, err := db.Query(`SELECT i.indexname FROM pg_indexes i WHERE i.schemaname = 'public' AND NOT EXISTS (
		SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	for idx.Next() {
		var n string
		if err := idx.Scan(&n); err != nil {
			t.Fatal(err)
		}
		s.Indexes = append(s.Indexes, n)
	}
	sort.Strings(s.Indexes)
	return s
}

// TestMigrationsInLockstep applies both migration folders and requires the
// same tables, columns (type class and nullability) and named indexes, so
// PostgreSQL never drifts from the SQLite default.
func TestMigrationsInLockstep(t *testing.T) {
	ctx := context.Background()
	litePath := filepath.Join(t.TempDir(), "s.db")
	lite, err := sqlstore.Open(ctx, "sqlite:"+litePath)
	if err != nil {
		t.Fatal(err)
	}
	lite.Close()
	pgDSN := testenv.FreshPostgres(t)
	pg, err := sqlstore.Open(ctx, pgDSN)
	if err != nil {
		t.Fatal(err)
	}
	pg.Close()

	ldb, err := sql.Open("sqlite", "file:"+litePath)
	if err != nil {
		t.Fatal(err)
	}
	defer ldb.Close()
	pdb, err := sql.Open("pgx", pgDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	ls, ps := sqliteSchema(t, ldb), postgresSchema(t, pdb)
	if len(ls.Columns) == 0 {
		t.Fatal("SQLite schema is empty")
	}
	if diff := cmp.Diff(ls, ps); diff != "" {
		t.Errorf("SQLite and PostgreSQL schemas differ (-sqlite +postgres):\n%s", diff)
	}
}
