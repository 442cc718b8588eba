package cli

import (
	"bufio"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/client"
)

func (a *app) loginCmd() *cobra.Command {
	var token, username string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login --endpoint URL [--token TOKEN | --username NAME --password-stdin]",
		Short: "Save an endpoint and credentials as a named profile",
		Long: `Log in to a Stowage endpoint and save it as a profile in ~/.config/stowage/config.json
(mode 0600). With a username, the password is read from standard input and exchanged for a new
API token, so the password itself is never stored.`,
		Example: `  stowage login --endpoint http://127.0.0.1:8080 --token "$(cat stowage-data/admin-token)"
  echo "$PASSWORD" | stowage login --endpoint https://storage.example.org --username alice --password-stdin --profile prod`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			endpoint := a.endpoint
			if endpoint == "" {
				endpoint = a.getenv("STOWAGE_ENDPOINT")
			}
			if endpoint == "" {
				return usageError{errors.New("--endpoint is required")}
			}
			if _, err := url.ParseRequestURI(endpoint); err != nil || !strings.HasPrefix(endpoint, "http") {
				return usageError{fmt.Errorf("--endpoint %q is not an http(s) URL", endpoint)}
			}
			ca, err := absCA(a.caFile())
			if err != nil {
				return err
			}
			if (token == "") == (username == "") {
				return usageError{errors.New("give either --token or --username with --password-stdin")}
			}
			ctx := cmd.Context()
			if username != "" {
				if !passwordStdin {
					return usageError{errors.New("--username needs --password-stdin")}
				}
				line, err := bufio.NewReader(a.stdin).ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("read password from standard input: %w", err)
				}
				var s client.Session
				anon, err := newClient(endpoint, "", ca)
				if err != nil {
					return err
				}
				if err := anon.Do(ctx, "POST", "/api/v1/sessions", nil, map[string]string{"username": username, "password": strings.TrimRight(line, "\r\n")}, &s); err != nil {
					return err
				}
				var t client.Token
				sc, err := newClient(endpoint, s.Token, ca)
				if err != nil {
					return err
				}
				if err := sc.Do(ctx, "POST", "/api/v1/tokens", nil, map[string]any{"name": "stowage login"}, &t); err != nil {
					return err
				}
				token = t.Token
			}
			var me client.User
			c, err := newClient(endpoint, token, ca)
			if err != nil {
				return err
			}
			if err := c.Do(ctx, "GET", "/api/v1/users/me", nil, nil, &me); err != nil {
				return err
			}
			ps, path, err := loadProfiles(a.getenv)
			if err != nil {
				return err
			}
			name := a.profile
			if name == "" {
				name = "default"
			}
			ps.Profiles[name] = profile{Endpoint: endpoint, Token: token, CACert: ca}
			ps.Current = name
			if err := ps.save(path); err != nil {
				return err
			}
			return a.out().one(me, me.ID, [][2]string{{"logged in as", me.Username}, {"endpoint", endpoint}, {"profile", name}})
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "an API token")
	cmd.Flags().StringVar(&username, "username", "", "log in with this user's password")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

func (a *app) whoamiCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "whoami",
		Short:   "Show the user the current credentials belong to",
		Example: "  stowage whoami\n  stowage --profile prod whoami --json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var me client.User
			if err := c.Do(cmd.Context(), "GET", "/api/v1/users/me", nil, nil, &me); err != nil {
				return err
			}
			return a.out().one(me, me.ID, [][2]string{{"id", me.ID}, {"username", me.Username}, {"email", orDash(me.Email)},
				{"staff", fmt.Sprint(me.Staff)}})
		},
	}
}

// orgNames maps the ids of the organisations the caller sees to their
// names; a project of an organisation the caller does not see keeps its id.
func orgNames(cmd *cobra.Command, c *client.Client) (map[string]string, error) {
	orgs, err := client.All[client.Organisation](cmd.Context(), c, "/api/v1/organisations", nil)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(orgs))
	for _, o := range orgs {
		names[o.ID] = o.Name
	}
	return names, nil
}

// orgLabel is an organisation as one project's details show it: its name
// and id.
func orgLabel(names map[string]string, id string) string {
	if n, ok := names[id]; ok {
		return n + " (" + id + ")"
	}
	return id
}

func orgName(names map[string]string, id string) string {
	if n, ok := names[id]; ok {
		return n
	}
	return id
}

func (a *app) projectCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "project", Short: "Manage projects, the tenants that own every resource"}
	var org string
	ls := &cobra.Command{
		Use: "ls", Short: "List the projects you can see", Args: args(cobra.NoArgs),
		Example: "  stowage project ls\n  stowage project ls --organisation ORG_ID --json",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if org != "" {
				q.Set("organisation_id", org)
			}
			ps, err := client.All[client.Project](cmd.Context(), c, "/api/v1/projects", q)
			if err != nil {
				return err
			}
			names, err := orgNames(cmd, c)
			if err != nil {
				return err
			}
			rows := make([]row, 0, len(ps))
			for _, p := range ps {
				rows = append(rows, row{id: p.ID, fields: []string{p.ID, p.Name, orgName(names, p.OrganisationID), p.CreatedAt}})
			}
			return a.out().list(ps, []string{"ID", "NAME", "ORGANISATION", "CREATED"}, rows)
		},
	}
	ls.Flags().StringVar(&org, "organisation", "", "only projects of this organisation")
	show := &cobra.Command{
		Use: "show ID", Short: "Show one project", Example: "  stowage project show PROJECT_ID --json", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var p client.Project
			if err := c.Do(cmd.Context(), "GET", "/api/v1/projects/"+url.PathEscape(argv[0]), nil, nil, &p); err != nil {
				return err
			}
			names, err := orgNames(cmd, c)
			if err != nil {
				return err
			}
			return a.out().one(p, p.ID, [][2]string{{"id", p.ID}, {"name", p.Name}, {"organisation", orgLabel(names, p.OrganisationID)},
				{"description", orDash(p.Description)}, {"created", p.CreatedAt}})
		},
	}
	var desc string
	create := &cobra.Command{
		Use: "create NAME --organisation ORG_ID", Short: "Create a project", Args: args(cobra.ExactArgs(1)),
		Example: "  stowage project create web --organisation 0193…",
		RunE: func(cmd *cobra.Command, argv []string) error {
			if org == "" {
				return usageError{errors.New("--organisation is required")}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var p client.Project
			if err := c.Do(cmd.Context(), "POST", "/api/v1/projects", nil, map[string]string{"organisation_id": org, "name": argv[0], "description": desc}, &p); err != nil {
				return err
			}
			return a.out().one(p, p.ID, [][2]string{{"id", p.ID}, {"name", p.Name}})
		},
	}
	create.Flags().StringVar(&org, "organisation", "", "the organisation to create it in")
	create.Flags().StringVar(&desc, "description", "", "what the project is for")
	cmd.AddCommand(ls, show, create)
	return cmd
}

func (a *app) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage your API tokens"}
	ls := &cobra.Command{
		Use: "ls", Short: "List your active tokens (never their secrets)", Example: "  stowage token ls", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ts, err := client.All[client.Token](cmd.Context(), c, "/api/v1/tokens", nil)
			if err != nil {
				return err
			}
			rows := make([]row, 0, len(ts))
			for _, t := range ts {
				rows = append(rows, row{id: t.ID, fields: []string{t.ID, orDash(t.Name), t.Prefix + "…", orDash(t.ProjectID), ptrOrDash(t.ExpiresAt), ptrOrDash(t.LastUsedAt)}})
			}
			return a.out().list(ts, []string{"ID", "NAME", "PREFIX", "PROJECT", "EXPIRES", "LAST USED"}, rows)
		},
	}
	var project string
	var ttl time.Duration
	create := &cobra.Command{
		Use: "create [NAME]", Short: "Create a token; its secret is printed once", Args: args(cobra.MaximumNArgs(1)),
		Example: "  stowage token create ci --project PROJECT_ID --ttl 720h\n  stowage token create -q   # prints only the secret",
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			body := map[string]any{"project_id": project}
			if len(argv) == 1 {
				body["name"] = argv[0]
			}
			if ttl < 0 {
				return usageError{errors.New("--ttl must be positive")}
			}
			if ttl > 0 {
				body["ttl_seconds"] = int64(ttl.Seconds())
			}
			var t client.Token
			if err := c.Do(cmd.Context(), "POST", "/api/v1/tokens", nil, body, &t); err != nil {
				return err
			}
			return a.out().one(t, t.Token, [][2]string{{"id", t.ID}, {"token", t.Token}, {"project", orDash(t.ProjectID)}, {"expires", ptrOrDash(t.ExpiresAt)}})
		},
	}
	create.Flags().StringVar(&project, "project", "", "bind the token to one project")
	create.Flags().DurationVar(&ttl, "ttl", 0, "expire the token after this long (e.g. 24h)")
	rm := &cobra.Command{
		Use: "rm ID...", Short: "Revoke tokens", Example: "  stowage token rm TOKEN_ID", Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			for _, id := range argv {
				if err := c.Do(cmd.Context(), "DELETE", "/api/v1/tokens/"+url.PathEscape(id), nil, nil, nil); err != nil {
					return err
				}
				if !a.json {
					fmt.Fprintln(a.stdout, id)
				}
			}
			return nil
		},
	}
	cmd.AddCommand(ls, create, rm)
	return cmd
}
