package cli

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/client"
)

func (a *app) offeringCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "offering", Short: "Browse the catalog of what can be ordered"}
	ls := &cobra.Command{
		Use: "ls", Short: "List offerings and their plans", Example: "  stowage offering ls\n  stowage offering ls --json", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			offs, err := client.All[client.Offering](cmd.Context(), c, "/api/v1/offerings", nil)
			if err != nil {
				return err
			}
			rows := make([]row, 0, len(offs))
			for _, o := range offs {
				plans, err := client.All[client.Plan](cmd.Context(), c, "/api/v1/offerings/"+o.ID+"/plans", nil)
				if err != nil {
					return err
				}
				var names []string
				for _, p := range plans {
					names = append(names, p.Name)
				}
				rows = append(rows, row{id: o.ID, fields: []string{o.ID, o.Name, o.Kind, o.State, strings.Join(names, ",")}})
			}
			return a.out().list(offs, []string{"ID", "NAME", "KIND", "STATE", "PLANS"}, rows)
		},
	}
	cmd.AddCommand(ls)
	return cmd
}

// findOffering resolves an offering and plan by name (or id).
func findOffering(cmd *cobra.Command, c *client.Client, offering, plan string) (client.Offering, client.Plan, error) {
	offs, err := client.All[client.Offering](cmd.Context(), c, "/api/v1/offerings", nil)
	if err != nil {
		return client.Offering{}, client.Plan{}, err
	}
	for _, o := range offs {
		if o.ID != offering && !strings.EqualFold(o.Name, offering) {
			continue
		}
		plans, err := client.All[client.Plan](cmd.Context(), c, "/api/v1/offerings/"+o.ID+"/plans", nil)
		if err != nil {
			return o, client.Plan{}, err
		}
		for _, p := range plans {
			if p.ID == plan || strings.EqualFold(p.Name, plan) || (plan == "" && !p.Archived) {
				return o, p, nil
			}
		}
		return o, client.Plan{}, fmt.Errorf("offering %q has no plan %q", o.Name, plan)
	}
	return client.Offering{}, client.Plan{}, fmt.Errorf("no offering named %q: see `stowage offering ls`", offering)
}

func orderPairs(o client.Order) [][2]string {
	lim := []string{}
	for k, v := range o.Limits {
		lim = append(lim, fmt.Sprintf("%s=%d", k, v))
	}
	return [][2]string{{"id", o.ID}, {"type", o.Type}, {"state", o.State}, {"resource", o.ResourceID},
		{"limits", orDash(strings.Join(lim, ","))}, {"cost", orDash(decimal(o.Cost))}, {"error", orDash(o.ErrorMessage)}}
}

func (a *app) orderCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "order", Short: "Order storage from the catalog and follow the orders"}
	var project, plan string
	var storage int64
	var wait bool
	create := &cobra.Command{
		Use: "create OFFERING NAME --project ID [--plan PLAN] [--storage GB]", Short: "Place an order", Args: args(cobra.ExactArgs(2)),
		Example: `  stowage order create "Object Storage" my-storage --project PROJECT_ID --storage 10 --wait`,
		RunE: func(cmd *cobra.Command, argv []string) error {
			if project == "" {
				return usageError{errors.New("--project is required")}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			off, pl, err := findOffering(cmd, c, argv[0], plan)
			if err != nil {
				return err
			}
			body := map[string]any{"project_id": project, "offering_id": off.ID, "plan_id": pl.ID, "attributes": map[string]any{"name": argv[1]}}
			if storage > 0 {
				body["limits"] = map[string]int64{"storage": storage}
			}
			var o client.Order
			if err := c.Do(cmd.Context(), "POST", "/api/v1/orders", nil, body, &o); err != nil {
				return err
			}
			if wait {
				if o, err = waitOrder(cmd, c, o.ID); err != nil {
					return err
				}
			}
			return a.out().one(o, o.ID, orderPairs(o))
		},
	}
	create.Flags().StringVar(&project, "project", "", "the project that will own the resource")
	create.Flags().StringVar(&plan, "plan", "", "plan name or id (default: the first active plan)")
	create.Flags().Int64Var(&storage, "storage", 0, "storage limit in the offering's unit (GB)")
	create.Flags().BoolVar(&wait, "wait", false, "wait until the order is done; fail if it errs")
	var state string
	ls := &cobra.Command{
		Use: "ls", Short: "List orders", Example: "  stowage order ls --state done", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if state != "" {
				q.Set("state", state)
			}
			os, err := client.All[client.Order](cmd.Context(), c, "/api/v1/orders", q)
			if err != nil {
				return err
			}
			rows := make([]row, 0, len(os))
			for _, o := range os {
				rows = append(rows, row{id: o.ID, fields: []string{o.ID, o.Type, o.State, fmt.Sprint(o.Attributes["name"]), orDash(decimal(o.Cost))}})
			}
			return a.out().list(os, []string{"ID", "TYPE", "STATE", "NAME", "COST"}, rows)
		},
	}
	ls.Flags().StringVar(&state, "state", "", "only orders in this state")
	show := &cobra.Command{
		Use: "show ID", Short: "Show one order", Example: "  stowage order show ORDER_ID", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var o client.Order
			if err := c.Do(cmd.Context(), "GET", "/api/v1/orders/"+url.PathEscape(argv[0]), nil, nil, &o); err != nil {
				return err
			}
			return a.out().one(o, o.ID, orderPairs(o))
		},
	}
	action := func(use, short, act string) *cobra.Command {
		return &cobra.Command{
			Use: use + " ID", Short: short, Args: args(cobra.ExactArgs(1)), Example: "  stowage order " + use + " ORDER_ID",
			RunE: func(cmd *cobra.Command, argv []string) error {
				c, err := a.client()
				if err != nil {
					return err
				}
				var o client.Order
				if err := c.Do(cmd.Context(), "POST", "/api/v1/orders/"+url.PathEscape(argv[0])+"/"+act, nil, nil, &o); err != nil {
					return err
				}
				return a.out().one(o, o.ID, orderPairs(o))
			},
		}
	}
	cmd.AddCommand(create, ls, show,
		action("approve", "Approve an order as the consumer", "approve_by_consumer"),
		action("approve-provider", "Approve an order as the provider (staff)", "approve_by_provider"),
		action("reject", "Reject a pending order", "reject_by_consumer"),
		action("cancel", "Cancel a pending order", "cancel"))
	return cmd
}

// waitOrder polls an order until it is done; erred, canceled and rejected
// orders are errors carrying the order's message.
func waitOrder(cmd *cobra.Command, c *client.Client, id string) (client.Order, error) {
	delay := 100 * time.Millisecond
	for {
		var o client.Order
		if err := c.Do(cmd.Context(), "GET", "/api/v1/orders/"+url.PathEscape(id), nil, nil, &o); err != nil {
			return o, err
		}
		switch o.State {
		case "done":
			return o, nil
		case "erred", "canceled", "rejected":
			return o, fmt.Errorf("order %s %s: %s", o.ID, o.State, orDash(o.ErrorMessage))
		}
		select {
		case <-cmd.Context().Done():
			return o, cmd.Context().Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}
