package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"github.com/stowage/stowage/internal/config"
)

// FreshPostgres creates an empty database on the PostgreSQL server named by
// TEST_PG_DSN, drops it when the test ends, and returns its DSN. Without
// TEST_PG_DSN the test fails: `make test` starts a server and sets it.
func FreshPostgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_PG_DSN")
	if base == "" {
		t.Fatal("TEST_PG_DSN is not set: run the suite with `make test`, which starts PostgreSQL (scripts/test-postgres.sh)")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "stowage_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Postgres is an Option that runs the server on a fresh PostgreSQL database.
func Postgres(t testing.TB) Option {
	dsn := FreshPostgres(t)
	return func(c *config.Config) { c.Database = dsn }
}
