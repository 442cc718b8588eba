package cli

import (
	"bufio"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/client"
)

func (a *app) adminCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Operator commands (staff only): users, organisations, memberships"}

	var email, fullName string
	var staff, passwordStdin bool
	user := &cobra.Command{
		Use: "user-create USERNAME --password-stdin", Short: "Create a user", Args: args(cobra.ExactArgs(1)),
		Example: "  echo 'a long password' | stowage admin user-create alice --email alice@example.org --password-stdin",
		RunE: func(cmd *cobra.Command, argv []string) error {
			if !passwordStdin {
				return usageError{errors.New("--password-stdin is required: passwords never go on the command line")}
			}
			line, err := bufio.NewReader(a.stdin).ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("read password from standard input: %w", err)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var u client.User
			body := map[string]any{"username": argv[0], "email": email, "full_name": fullName, "staff": staff, "password": strings.TrimRight(line, "\r\n")}
			if err := c.Do(cmd.Context(), "POST", "/api/v1/users", nil, body, &u); err != nil {
				return err
			}
			return a.out().one(u, u.ID, [][2]string{{"id", u.ID}, {"username", u.Username}, {"staff", fmt.Sprint(u.Staff)}})
		},
	}
	user.Flags().StringVar(&email, "email", "", "e-mail address (also accepted as login)")
	user.Flags().StringVar(&fullName, "full-name", "", "display name")
	user.Flags().BoolVar(&staff, "staff", false, "make the user staff (sees and manages everything)")
	user.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")

	var desc string
	org := &cobra.Command{
		Use: "org-create NAME", Short: "Create an organisation", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var o client.Organisation
			if err := c.Do(cmd.Context(), "POST", "/api/v1/organisations", nil, map[string]string{"name": argv[0], "description": desc}, &o); err != nil {
				return err
			}
			return a.out().one(o, o.ID, [][2]string{{"id", o.ID}, {"name", o.Name}})
		},
	}
	org.Flags().StringVar(&desc, "description", "", "what the organisation is")

	var onOrg, onProject, role string
	member := &cobra.Command{
		Use: "member-add USER_ID --role ROLE (--organisation ID | --project ID)", Short: "Grant a role", Args: args(cobra.ExactArgs(1)),
		Example: "  stowage admin member-add USER_ID --organisation ORG_ID --role owner",
		RunE: func(cmd *cobra.Command, argv []string) error {
			if (onOrg == "") == (onProject == "") {
				return usageError{errors.New("give exactly one of --organisation and --project")}
			}
			path := "/api/v1/organisations/" + url.PathEscape(onOrg) + "/members"
			if onProject != "" {
				path = "/api/v1/projects/" + url.PathEscape(onProject) + "/members"
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var m client.Member
			if err := c.Do(cmd.Context(), "POST", path, nil, map[string]string{"user_id": argv[0], "role": role}, &m); err != nil {
				return err
			}
			return a.out().one(m, m.UserID, [][2]string{{"user", m.Username}, {"role", m.Role}})
		},
	}
	member.Flags().StringVar(&onOrg, "organisation", "", "organisation id")
	member.Flags().StringVar(&onProject, "project", "", "project id")
	member.Flags().StringVar(&role, "role", "member", "owner, admin, member or viewer")
	cmd.AddCommand(user, org, member)
	return cmd
}
