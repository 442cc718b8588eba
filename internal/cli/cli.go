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
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stowage/stowage/internal/client"
)

// usageError marks errors that exit 2; Main follows them with the usage
// line of the command that refused them.
type usageError struct{ error }

// app carries what every command needs; commands get it by closure, so
// nothing is global.
type app struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
	// global flags
	profile, endpoint, token string
	caCert                   string
	json, quiet              bool
}

// Main runs the command line and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.root()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(context.Background())
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "stowage:", err)
	var ue usageError
	if !errors.As(err, &ue) {
		return 1
	}
	line := cmd.UseLine()
	if cmd.HasAvailableSubCommands() {
		line = cmd.CommandPath() + " COMMAND"
	}
	fmt.Fprintf(stderr, "Usage: %s\nRun '%s --help' for more.\n", line, cmd.CommandPath())
	return 2
}

// root builds the command tree.
func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "stowage",
		Short: "A self-hosted storage cloud: block volumes and S3 object storage in one binary",
		Long: `The stowage binary runs the Stowage server (stowage serve) and is its client.

Client commands talk to the native API of the endpoint you logged in to
(stowage login), or to STOWAGE_ENDPOINT with STOWAGE_TOKEN when set.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(flagError)
	pf := root.PersistentFlags()
	pf.StringVar(&a.profile, "profile", "", "named profile from the config file (default: the current one)")
	pf.StringVar(&a.endpoint, "endpoint", "", "API endpoint, overriding the profile and STOWAGE_ENDPOINT")
	pf.StringVar(&a.caCert, "ca-cert", "", "PEM file of the CA to verify the endpoint's TLS certificate with (overrides the profile and STOWAGE_CA_CERT)")
	pf.BoolVar(&a.json, "json", false, "print JSON with stable field names")
	pf.BoolVarP(&a.quiet, "quiet", "q", false, "print ids only")
	root.AddCommand(serveCmd(a.getenv, a.stderr), a.versionCmd(), a.loginCmd(), a.whoamiCmd(), a.projectCmd(), a.tokenCmd(), a.jobCmd(), a.adminCmd(), a.offeringCmd(), a.orderCmd(), a.volumeCmd(), a.snapshotCmd(), a.backupCmd(), a.instanceCmd(), a.bucketCmd(), a.credentialCmd(), a.kmsCmd(), a.notificationTargetCmd(), a.quotaCmd(), a.eventCmd(), a.usageCmd(),
		a.cpCmd(), a.lsCmd(), a.rmCmd(), a.presignCmd())
	root.InitDefaultCompletionCmd()
	completion, _, _ := root.Find([]string{"completion"})
	bashWithoutPackage(completion)
	a.registerCompletions(root)
	groupsRefuseUnknown(root)
	return root
}

// groupsRefuseUnknown makes the commands that only group others (the root,
// volume, admin, completion …) answer an unknown subcommand with a usage
// error that suggests the commands it may have meant; cobra would print
// their help and exit 0 (or, for the root, suggest without the usage).
func groupsRefuseUnknown(c *cobra.Command) {
	if c.HasSubCommands() && !c.Runnable() {
		c.Args = cobra.ArbitraryArgs
		c.SuggestionsMinimumDistance = 2
		c.RunE = func(cmd *cobra.Command, argv []string) error {
			if len(argv) == 0 {
				return cmd.Help()
			}
			err := fmt.Errorf("unknown command %q for %q", argv[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(argv[0]); len(s) > 0 {
				err = fmt.Errorf("%w; did you mean %s?", err, oneOf(s))
			}
			return usageError{err}
		}
	}
	for _, sub := range c.Commands() {
		groupsRefuseUnknown(sub)
	}
}

// flagError makes a flag cobra could not parse a usage error, suggesting
// the command's flags whose names are near the one given.
func flagError(cmd *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	if !errors.As(err, &ne) || ne.GetSpecifiedShortnames() != "" {
		return usageError{err}
	}
	typed := ne.GetSpecifiedName()
	var near []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && (levenshtein(typed, f.Name) <= 2 || strings.HasPrefix(f.Name, typed)) {
			near = append(near, "--"+f.Name)
		}
	})
	if len(near) > 0 {
		err = fmt.Errorf("%w; did you mean %s?", err, oneOf(near))
	}
	return usageError{err}
}

// oneOf lists suggestions as a question offers them.
func oneOf(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return "one of " + strings.Join(s, ", ")
}

// levenshtein is the edit distance between two names.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// args wraps cobra's argument checks so their failures exit 2 and say
// which argument is missing or which ones are extra (Main adds the usage
// line).
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if check(cmd, a) == nil {
			return nil
		}
		// The checks only count, so more blanks passing means too few.
		for more := 1; more <= 3; more++ {
			if check(cmd, append(slices.Clone(a), make([]string, more)...)) == nil {
				if names := argNames(cmd); len(a) < len(names) {
					return usageError{fmt.Errorf("missing %s", strings.Join(names[len(a):], " "))}
				}
				return usageError{errors.New("missing argument")}
			}
		}
		// Too many: the longest prefix the check takes shows which are extra.
		k := len(a) - 1
		for k > 0 && check(cmd, a[:k]) != nil {
			k--
		}
		extra := make([]string, len(a)-k)
		for i, x := range a[k:] {
			extra[i] = strconv.Quote(x)
		}
		if len(extra) == 1 {
			return usageError{fmt.Errorf("unexpected argument %s", extra[0])}
		}
		return usageError{fmt.Errorf("unexpected arguments %s", strings.Join(extra, " "))}
	}
}

// argNames are the arguments a command's Use names before its flags:
// "create NAME --size SIZE" takes NAME.
func argNames(cmd *cobra.Command) []string {
	var names []string
	for _, w := range strings.Fields(cmd.Use)[1:] {
		if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "[") || strings.HasPrefix(w, "(") {
			break
		}
		names = append(names, w)
	}
	return names
}

func (a *app) out() output { return output{w: a.stdout, json: a.json, quiet: a.quiet} }

// client resolves the endpoint and token: flags, then STOWAGE_ENDPOINT and
// STOWAGE_TOKEN, then the chosen profile.
func (a *app) client() (*client.Client, error) {
	endpoint, token, ca := a.endpoint, "", a.caFile()
	if endpoint == "" {
		endpoint = a.getenv("STOWAGE_ENDPOINT")
	}
	token = a.getenv("STOWAGE_TOKEN")
	if endpoint == "" || token == "" || ca == "" {
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
		if ca == "" {
			ca = p.CACert
		}
	}
	return newClient(endpoint, token, ca)
}
