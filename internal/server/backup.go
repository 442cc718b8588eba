package server

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/store/sqlstore"
)

// SchemaVersion is the database schema version this binary migrates to.
func SchemaVersion() int64 { return sqlstore.SchemaVersion() }

// ErrBackupNotSQLite is BackupMetadata's answer on PostgreSQL, whose own
// tools back it up.
var ErrBackupNotSQLite = sqlstore.ErrNotSQLite

// BackupMetadata writes a consistent copy of the node's SQLite database to
// dest while the node serves and returns the copy's schema version.
func BackupMetadata(ctx context.Context, cfg config.Config, dest string) (int64, error) {
	return sqlstore.Backup(ctx, cfg.DatabaseDSN(), dest)
}

// BackupNotes names what a metadata backup does not hold and a restore
// needs: the keys and the data files.
func BackupNotes(cfg config.Config, keyFromEnv bool) string {
	key := "the master key " + filepath.Join(cfg.DataDir, masterKeyFile)
	if keyFromEnv {
		key = "the master key in STOWAGE_MASTER_KEY"
	}
	return fmt.Sprintf(`Keep also, or the backup cannot be restored:
  %s: S3 secrets and encrypted objects cannot be read without it;
    store it apart from the backups (whoever has both reads everything)
  %s: signs login sessions (without it, users log in again)
  the data files: %s (object bodies), %s (block volumes), %s (filesystem volumes);
    copy them after this backup, or snapshot the file system (docs/operations.md)`,
		key, filepath.Join(cfg.DataDir, jwtKeyFile),
		filepath.Join(cfg.DataDir, "objects"), filepath.Join(cfg.DataDir, "blocks"), filepath.Join(cfg.DataDir, "filesystems"))
}
