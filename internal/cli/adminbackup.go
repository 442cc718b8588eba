package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/server"
)

// adminBackupCmd copies the metadata of a node on this machine. It reads the
// database directly rather than through the API: the copy must be one
// snapshot, and SQLite gives that to any reader of the file.
func (a *app) adminBackupCmd() *cobra.Command {
	var dataDir, database string
	cmd := &cobra.Command{
		Use:   "backup FILE [--data-dir DIR] [--database DSN]",
		Short: "Copy the node's SQLite metadata to FILE while it serves, and list what else to keep",
		Long: `Write a consistent copy of the node's SQLite database to FILE (SQLite's VACUUM INTO: one
snapshot, taken beside the running node without stopping it), check it, and print what a restore
needs besides it: the master key, without which encrypted S3 secrets and objects cannot be read, and
the data files. On PostgreSQL it says to use PostgreSQL's tools. Restoring: docs/operations.md.`,
		Example: "  stowage admin backup /var/backups/stowage-$(date +%F).db --data-dir /var/lib/stowage",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			cfg := config.Default()
			cfg.DataDir, cfg.Database = a.setting(dataDir, "STOWAGE_DATA_DIR", cfg.DataDir), a.setting(database, "STOWAGE_DATABASE", "")
			version, err := server.BackupMetadata(cmd.Context(), cfg, argv[0])
			if errors.Is(err, server.ErrBackupNotSQLite) {
				fmt.Fprintln(a.stdout, err.Error()+".")
				fmt.Fprintln(a.stdout, server.BackupNotes(cfg, a.getenv("STOWAGE_MASTER_KEY") != ""))
				return nil
			}
			if err != nil {
				return err
			}
			fi, err := os.Stat(argv[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "backed up the metadata (schema version %d, %d bytes) to %s\n", version, fi.Size(), argv[0])
			fmt.Fprintln(a.stdout, server.BackupNotes(cfg, a.getenv("STOWAGE_MASTER_KEY") != ""))
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "the node's data dir [STOWAGE_DATA_DIR] (./stowage-data)")
	cmd.Flags().StringVar(&database, "database", "", "the node's database, when not SQLite in the data dir [STOWAGE_DATABASE]")
	return cmd
}

// setting is a flag's value, else the environment's, else def.
func (a *app) setting(flag, env, def string) string {
	if flag != "" {
		return flag
	}
	if v := a.getenv(env); v != "" {
		return v
	}
	return def
}
