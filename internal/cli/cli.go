// Package cli owns the stowage command line: parsing arguments, running the
// server (`serve`), and exit codes (0 ok, 1 error, 2 usage). The client
// commands talk to the native API; none of them touch the store.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/server"
)

// Version is set at build time with -ldflags "-X ...cli.Version=…".
var Version = "dev"

// usageError marks errors that should exit 2.
type usageError struct{ error }

// Main runs the command line and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	root := &cobra.Command{
		Use:           "stowage",
		Short:         "A self-hosted storage cloud: block volumes and S3 object storage in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(serveCmd(getenv, stderr), versionCmd())
	err := root.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "stowage:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func serveCmd(getenv func(string) string, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run the server on the embedded defaults (SQLite and local disk) or the given configuration",
		Long: `Run the Stowage server.

Flags (each also read from the STOWAGE_* variable named in brackets; a flag wins):
  --data-dir DIR        all state of the embedded default [STOWAGE_DATA_DIR] (./stowage-data)
  --listen ADDR         management API [STOWAGE_LISTEN] (127.0.0.1:8080)
  --s3-listen ADDR      S3 data plane [STOWAGE_S3_LISTEN] (127.0.0.1:9000)
  --nbd-listen ADDR     NBD data plane [STOWAGE_NBD_LISTEN] (127.0.0.1:10809)
  --database DSN        postgres://… for PostgreSQL [STOWAGE_DATABASE] (SQLite in the data dir)
  --region NAME         region this node serves [STOWAGE_REGION] (local-1)
  --zones A,B           availability zones [STOWAGE_ZONES] (<region>a)
  --s3-domain DOMAIN    enable virtual-hosted-style S3 [STOWAGE_S3_DOMAIN]
  --log-level LEVEL     debug, info, warn, error [STOWAGE_LOG_LEVEL]
  --shutdown-timeout D  how long to drain on SIGTERM (30s)

A port of :0 picks a free port; the bound addresses are written to <data-dir>/addresses.json.
On first start the admin's token and password are written to <data-dir>/admin-token and
<data-dir>/admin-password (mode 0600).`,
		Example:            "  stowage serve\n  stowage serve --data-dir /var/lib/stowage --listen 0.0.0.0:8080",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if a == "-h" || a == "--help" {
					return cmd.Help()
				}
			}
			cfg, err := config.Parse(args, getenv)
			if err != nil {
				return usageError{err}
			}
			log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return server.Run(ctx, cfg, log)
		},
	}
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "stowage", Version)
			return err
		},
	}
}
