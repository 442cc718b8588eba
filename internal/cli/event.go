package cli

import (
	"net/url"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/client"
)

func (a *app) eventCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "event", Short: "The audit log: who did what to which resource"}
	var project, resource, action string
	ls := &cobra.Command{
		Use: "ls", Short: "List events, oldest first", Args: args(cobra.NoArgs),
		Example: "  stowage event ls --resource VOLUME_ID",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"project": project, "resource_id": resource, "action": action} {
				if v != "" {
					q.Set(k, v)
				}
			}
			es, err := client.All[client.Event](cmd.Context(), c, "/api/v1/events", q)
			if err != nil {
				return err
			}
			rows := make([]row, 0, len(es))
			for _, e := range es {
				rows = append(rows, row{id: e.ID, fields: []string{e.CreatedAt, e.Action, e.ResourceType, e.ResourceID, orDash(e.UserID)}})
			}
			return a.out().list(es, []string{"TIME", "ACTION", "TYPE", "RESOURCE", "USER"}, rows)
		},
	}
	ls.Flags().StringVar(&project, "project", "", "only this project's events")
	ls.Flags().StringVar(&resource, "resource", "", "only events of this resource")
	ls.Flags().StringVar(&action, "action", "", "only this action")
	cmd.AddCommand(ls)
	return cmd
}
