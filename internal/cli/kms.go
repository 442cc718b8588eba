package cli

import (
	"net/url"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/client"
)

func kmsKeyPairs(k client.KMSKey) [][2]string {
	return [][2]string{{"id", k.ID}, {"arn", k.ARN}, {"alias", orDash(k.Alias)}, {"state", k.State},
		{"description", orDash(k.Description)}, {"created", k.CreatedAt}, {"deletion date", orDash(k.DeletionDate)}}
}

// kmsCmd manages a project's SSE-KMS keys; S3 clients name them in
// x-amz-server-side-encryption-aws-kms-key-id by id, ARN or alias.
func (a *app) kmsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "kms", Short: "SSE-KMS keys of a project: create, list, disable, enable, schedule deletion"}
	var project, alias, desc string
	var days int
	withProject := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringVar(&project, "project", "", "project id")
		return c
	}
	keysPath := func(project string) string { return "/api/v1/projects/" + url.PathEscape(project) + "/kms-keys" }
	create := withProject(&cobra.Command{
		Use: "create", Short: "Create a key (project admins)", Example: "  stowage kms create --alias backups --description 'backup bucket'\n  stowage kms create -q", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, project, err := a.projectClient(cmd, project)
			if err != nil {
				return err
			}
			var k client.KMSKey
			if err := c.Do(cmd.Context(), "POST", keysPath(project), nil, map[string]any{"alias": alias, "description": desc}, &k); err != nil {
				return err
			}
			return a.out().one(k, k.ID, kmsKeyPairs(k))
		},
	})
	create.Flags().StringVar(&alias, "alias", "", "a name S3 clients may use instead of the id, as alias/NAME")
	create.Flags().StringVar(&desc, "description", "", "what the key is for")
	ls := withProject(&cobra.Command{
		Use: "ls", Short: "List the project's keys", Example: "  stowage kms ls --project PROJECT_ID", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, project, err := a.projectClient(cmd, project)
			if err != nil {
				return err
			}
			ks, err := client.All[client.KMSKey](cmd.Context(), c, keysPath(project), nil)
			if err != nil {
				return err
			}
			rows := make([]row, 0, len(ks))
			for _, k := range ks {
				rows = append(rows, row{id: k.ID, fields: []string{k.ID, orDash(k.Alias), k.State, orDash(k.DeletionDate), orDash(k.Description)}})
			}
			return a.out().list(ks, []string{"ID", "ALIAS", "STATE", "DELETION", "DESCRIPTION"}, rows)
		},
	})
	// one runs a GET (action "") or a state change on the key named by
	// id or alias/NAME.
	one := func(use, short, example, action string) *cobra.Command {
		return withProject(&cobra.Command{
			Use: use + " KEY", Short: short, Example: example, Args: args(cobra.ExactArgs(1)),
			RunE: func(cmd *cobra.Command, argv []string) error {
				c, project, err := a.projectClient(cmd, project)
				if err != nil {
					return err
				}
				path, method, body := keysPath(project)+"/"+url.PathEscape(argv[0]), "GET", map[string]any(nil)
				if action != "" {
					path, method = path+"/"+action, "POST"
				}
				if action == "schedule-deletion" {
					body = map[string]any{"pending_window_days": days}
				}
				var k client.KMSKey
				if err := c.Do(cmd.Context(), method, path, nil, body, &k); err != nil {
					return err
				}
				return a.out().one(k, k.ID, kmsKeyPairs(k))
			},
		})
	}
	rm := one("rm", "Schedule a key's deletion after a window of 7-30 days; its objects are unreadable from now on",
		"  stowage kms rm KEY_ID --days 7", "schedule-deletion")
	rm.Flags().IntVar(&days, "days", 30, "days until the key is destroyed for good (7-30)")
	cmd.AddCommand(create, ls,
		one("show", "Show a key", "  stowage kms show KEY_ID\n  stowage kms show alias/backups", ""),
		one("disable", "Disable a key: the objects it protects are unreadable until it is enabled", "  stowage kms disable KEY_ID", "disable"),
		one("enable", "Enable a disabled key", "  stowage kms enable KEY_ID", "enable"),
		rm,
		one("restore", "Cancel a key's scheduled deletion; it comes back disabled", "  stowage kms restore KEY_ID", "cancel-deletion"))
	return cmd
}
