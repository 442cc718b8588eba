// Package cli owns the stowage command line: the server (`serve`) and the
// client commands over the native API, their output formats (tables,
// --json, --quiet) and exit codes (0 ok, 1 error, 2 usage). Client commands
// go through internal/client; none of them touch the store.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/client"
)

// Version is set at build time with -ldflags "-X ...cli.Version=…".
var Version = "dev"

// usageError marks errors that exit 2.
type usageError struct{ error }

// app carries what every command needs; commands get it by closure, so
// nothing is global.
type app struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
	// global flags
	profile, endpoint, token string
	json, quiet              bool
}

// Main runs the command line and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.root()
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "stowage:", err)
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
		return 2
	}
	return 1
}

// root builds the command tree.
func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "stowage",
		Short: "A self-hosted storage cloud: block volumes and S3 object storage in one binary",
		Long: `stowage runs the Stowage server (stowage serve) and is its client.

Client commands talk to the native API of the endpoint you logged in to
(stowage login), or to STOWAGE_ENDPOINT with STOWAGE_TOKEN when set.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.profile, "profile", "", "named profile from the config file (default: the current one)")
	pf.StringVar(&a.endpoint, "endpoint", "", "API endpoint, overriding the profile and STOWAGE_ENDPOINT")
	pf.BoolVar(&a.json, "json", false, "print JSON with stable field names")
	pf.BoolVarP(&a.quiet, "quiet", "q", false, "print ids only")
	root.AddCommand(serveCmd(a.getenv, a.stderr), versionCmd(), a.loginCmd(), a.whoamiCmd(), a.projectCmd(), a.tokenCmd(), a.jobCmd(), a.adminCmd(), a.offeringCmd(), a.orderCmd(), a.volumeCmd(), a.snapshotCmd(), a.instanceCmd(), a.bucketCmd(), a.credentialCmd(), a.quotaCmd(), a.eventCmd(),
		a.cpCmd(), a.lsCmd(), a.rmCmd(), a.presignCmd())
	root.InitDefaultCompletionCmd()
	groupsRefuseUnknown(root)
	return root
}

// groupsRefuseUnknown makes the commands that only group others (volume,
// admin, completion …) answer an unknown subcommand with a usage error;
// cobra would print their help and exit 0.
func groupsRefuseUnknown(c *cobra.Command) {
	for _, sub := range c.Commands() {
		if sub.HasSubCommands() && !sub.Runnable() {
			sub.RunE = func(cmd *cobra.Command, argv []string) error {
				if len(argv) > 0 {
					return usageError{fmt.Errorf("unknown command %q for %q", argv[0], cmd.CommandPath())}
				}
				return cmd.Help()
			}
		}
		groupsRefuseUnknown(sub)
	}
}

// args wraps cobra's argument checks so their failures exit 2.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func (a *app) out() output { return output{w: a.stdout, json: a.json, quiet: a.quiet} }

// client resolves the endpoint and token: flags, then STOWAGE_ENDPOINT and
// STOWAGE_TOKEN, then the chosen profile.
func (a *app) client() (*client.Client, error) {
	endpoint, token := a.endpoint, ""
	if endpoint == "" {
		endpoint = a.getenv("STOWAGE_ENDPOINT")
	}
	token = a.getenv("STOWAGE_TOKEN")
	if endpoint == "" || token == "" {
		ps, _, err := loadProfiles(a.getenv)
		if err != nil {
			return nil, err
		}
		name := a.profile
		if name == "" {
			name = ps.Current
		}
		p, ok := ps.Profiles[name]
		if !ok && (endpoint == "" || token == "") {
			return nil, errors.New("not logged in: run `stowage login --endpoint URL` or set STOWAGE_ENDPOINT and STOWAGE_TOKEN")
		}
		if endpoint == "" {
			endpoint = p.Endpoint
		}
		if token == "" {
			token = p.Token
		}
	}
	return client.New(endpoint, token), nil
}
