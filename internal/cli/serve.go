package cli

import (
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/server"
)

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
  --nfs-listen ADDR     NFSv3 data plane for filesystem volumes [STOWAGE_NFS_LISTEN] (127.0.0.1:2049)
  --database DSN        postgres://… for PostgreSQL [STOWAGE_DATABASE] (SQLite in the data dir)
  --region NAME         region this node serves [STOWAGE_REGION] (local-1)
  --zones A,B           availability zones [STOWAGE_ZONES] (<region>a)
  --s3-domain DOMAIN    enable virtual-hosted-style S3 [STOWAGE_S3_DOMAIN]
  --log-level LEVEL     debug, info, warn, error [STOWAGE_LOG_LEVEL]
  --shutdown-timeout D  how long to drain on SIGTERM (30s)
  --tls-cert PATH       certificate file, or a directory of NAME.crt/NAME.key pairs: HTTPS on the
                        API and S3 listeners, NBD STARTTLS [STOWAGE_TLS_CERT]
  --tls-key FILE        key of --tls-cert [STOWAGE_TLS_KEY]
  --nbd-tls MODE        on, require or off: NBD STARTTLS with those certificates [STOWAGE_NBD_TLS] (on)
  --node-name NAME      this node's name in the cluster's registry [STOWAGE_NODE_NAME] (host name)
  --advertise-api/-s3/-nbd/-nfs HOST:PORT
                        the address clients are told, when it differs from the listen address
                        [STOWAGE_ADVERTISE_API, _S3, _NBD, _NFS]
  --config FILE         TOML file of these settings (data_dir = "…"); flags and variables win
                        [STOWAGE_CONFIG]

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
			info, _ := debug.ReadBuildInfo()
			cfg.Version = buildVersion(Version, Commit, info).Version
			log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return server.Run(ctx, cfg, log)
		},
	}
}
