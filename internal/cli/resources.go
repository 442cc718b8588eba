package cli

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/client"
)

// projectClient returns a client and the project a command acts on.
func (a *app) projectClient(cmd *cobra.Command, project string) (*client.Client, string, error) {
	c, err := a.client()
	if err != nil {
		return nil, "", err
	}
	project, err = a.projectOrOnly(cmd, c, project)
	return c, project, err
}

// projectOrOnly returns the project a command acts on: the flag, else the
// only project the caller sees.
func (a *app) projectOrOnly(cmd *cobra.Command, c *client.Client, project string) (string, error) {
	if project != "" {
		return project, nil
	}
	ps, err := client.All[client.Project](cmd.Context(), c, "/api/v1/projects", nil)
	if err != nil {
		return "", err
	}
	if len(ps) != 1 {
		return "", usageError{fmt.Errorf("you see %d projects: choose one with --project", len(ps))}
	}
	return ps[0].ID, nil
}

func (a *app) snapshotCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "Volume snapshots: list, show, restore, delete"}
	var volume string
	ls := &cobra.Command{
		Use: "ls", Short: "List snapshots", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if volume != "" {
				q.Set("volume_id", volume)
			}
			ss, err := client.All[client.Snapshot](cmd.Context(), c, "/api/v1/snapshots", q)
			if err != nil {
				return err
			}
			rows := make([]row, 0, len(ss))
			for _, s := range ss {
				rows = append(rows, row{id: s.ID, fields: []string{s.ID, s.Name, s.Status, humanSize(s.Size), s.VolumeID, ptrOrDash(s.KeptUntil)}})
			}
			return a.out().list(ss, []string{"ID", "NAME", "STATUS", "SIZE", "VOLUME", "KEPT UNTIL"}, rows)
		},
	}
	ls.Flags().StringVar(&volume, "volume", "", "only snapshots of this volume")
	show := &cobra.Command{
		Use: "show ID", Short: "Show a snapshot", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var s client.Snapshot
			if err := c.Do(cmd.Context(), "GET", "/api/v1/snapshots/"+url.PathEscape(argv[0]), nil, nil, &s); err != nil {
				return err
			}
			return a.out().one(s, s.ID, [][2]string{{"id", s.ID}, {"name", s.Name}, {"status", s.Status}, {"volume", s.VolumeID},
				{"size", humanSize(s.Size)}, {"kept until", ptrOrDash(s.KeptUntil)}, {"restorations", fmt.Sprint(len(s.Restorations))}})
		},
	}
	var wait bool
	restore := &cobra.Command{
		Use: "restore ID NAME", Short: "Restore a snapshot into a new volume", Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			acc, err := a.async(cmd, c, "POST", "/api/v1/snapshots/"+url.PathEscape(argv[0])+"/restore", map[string]any{"name": argv[1]}, wait)
			if err != nil {
				return err
			}
			return a.showVolume(cmd, c, acc.Volume.ID)
		},
	}
	restore.Flags().BoolVar(&wait, "wait", false, "wait until the new volume is available")
	rm := &cobra.Command{
		Use: "rm ID...", Short: "Delete snapshots", Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			for _, id := range argv {
				if _, err := a.async(cmd, c, "DELETE", "/api/v1/snapshots/"+url.PathEscape(id), nil, wait); err != nil {
					return err
				}
				if !a.json {
					fmt.Fprintln(a.stdout, id)
				}
			}
			return nil
		},
	}
	rm.Flags().BoolVar(&wait, "wait", false, "wait until deleted")
	cmd.AddCommand(ls, show, restore, rm)
	return cmd
}

func (a *app) instanceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "instance", Short: "Instances: the machines volumes attach to"}
	var project string
	create := &cobra.Command{
		Use: "create NAME", Short: "Register an instance", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, project, err := a.projectClient(cmd, project)
			if err != nil {
				return err
			}
			var in client.Instance
			if err := c.Do(cmd.Context(), "POST", "/api/v1/instances", nil, map[string]any{"project_id": project, "name": argv[0]}, &in); err != nil {
				return err
			}
			return a.out().one(in, in.ID, [][2]string{{"id", in.ID}, {"name", in.Name}, {"power", in.PowerState}})
		},
	}
	create.Flags().StringVar(&project, "project", "", "project id")
	ls := &cobra.Command{
		Use: "ls", Short: "List instances", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			is, err := client.All[client.Instance](cmd.Context(), c, "/api/v1/instances", nil)
			if err != nil {
				return err
			}
			rows := make([]row, 0, len(is))
			for _, in := range is {
				rows = append(rows, row{id: in.ID, fields: []string{in.ID, in.Name, in.PowerState, in.ProjectID}})
			}
			return a.out().list(is, []string{"ID", "NAME", "POWER", "PROJECT"}, rows)
		},
	}
	rm := &cobra.Command{
		Use: "rm ID...", Short: "Remove instances", Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			for _, id := range argv {
				if err := c.Do(cmd.Context(), "DELETE", "/api/v1/instances/"+url.PathEscape(id), nil, nil, nil); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.AddCommand(create, ls, rm)
	return cmd
}

func bucketPairs(b client.Bucket) [][2]string {
	return [][2]string{{"name", b.Name}, {"project", b.ProjectID}, {"region", b.Region}, {"tier", b.Tier},
		{"public", fmt.Sprint(b.Public)}, {"size", humanSize(b.SizeBytes)}, {"objects", fmt.Sprint(b.ObjectCount)}}
}

func (a *app) bucketCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bucket", Short: "S3 buckets: create, list with usage, public/private, delete"}
	var project, tier string
	var public bool
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a bucket (names are global and never reused)", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, project, err := a.projectClient(cmd, project)
			if err != nil {
				return err
			}
			var b client.Bucket
			if err := c.Do(cmd.Context(), "POST", "/api/v1/projects/"+url.PathEscape(project)+"/buckets", nil,
				map[string]any{"name": argv[0], "tier": tier, "public": public}, &b); err != nil {
				return err
			}
			return a.out().one(b, b.Name, bucketPairs(b))
		},
	}
	create.Flags().StringVar(&project, "project", "", "project id")
	create.Flags().StringVar(&tier, "tier", "standard", "standard or enterprise")
	create.Flags().BoolVar(&public, "public", false, "anyone may read objects")
	ls := &cobra.Command{
		Use: "ls", Short: "List buckets with their usage", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, project, err := a.projectClient(cmd, project)
			if err != nil {
				return err
			}
			bs, err := client.All[client.Bucket](cmd.Context(), c, "/api/v1/projects/"+url.PathEscape(project)+"/buckets", nil)
			if err != nil {
				return err
			}
			rows := make([]row, 0, len(bs))
			for _, b := range bs {
				rows = append(rows, row{id: b.Name, fields: []string{b.Name, humanSize(b.SizeBytes), fmt.Sprint(b.ObjectCount), b.Tier, fmt.Sprint(b.Public)}})
			}
			return a.out().list(bs, []string{"NAME", "SIZE", "OBJECTS", "TIER", "PUBLIC"}, rows)
		},
	}
	ls.Flags().StringVar(&project, "project", "", "project id")
	one := func(use, short, method string, body map[string]any) *cobra.Command {
		c := &cobra.Command{Use: use + " NAME", Short: short, Args: args(cobra.ExactArgs(1)),
			RunE: func(cmd *cobra.Command, argv []string) error {
				cl, project, err := a.projectClient(cmd, project)
				if err != nil {
					return err
				}
				path := "/api/v1/projects/" + url.PathEscape(project) + "/buckets/" + url.PathEscape(argv[0])
				if method == "DELETE" {
					if err := cl.Do(cmd.Context(), method, path, nil, nil, nil); err != nil {
						return err
					}
					if !a.json {
						fmt.Fprintln(a.stdout, argv[0])
					}
					return nil
				}
				var b client.Bucket
				if err := cl.Do(cmd.Context(), method, path, nil, body, &b); err != nil {
					return err
				}
				return a.out().one(b, b.Name, bucketPairs(b))
			}}
		c.Flags().StringVar(&project, "project", "", "project id")
		return c
	}
	cmd.AddCommand(create, ls,
		one("show", "Show a bucket and its usage", "GET", nil),
		one("public", "Let anyone read the bucket's objects", "PATCH", map[string]any{"public": true}),
		one("private", "Make the bucket private again", "PATCH", map[string]any{"public": false}),
		one("rm", "Delete an empty bucket", "DELETE", nil))
	return cmd
}

func (a *app) credentialCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "credential", Short: "S3 access keys of a project"}
	var project, desc string
	withProject := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringVar(&project, "project", "", "project id")
		return c
	}
	create := withProject(&cobra.Command{
		Use: "create", Short: "Create an S3 key; the secret is printed once", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, project, err := a.projectClient(cmd, project)
			if err != nil {
				return err
			}
			var cr client.Credential
			if err := c.Do(cmd.Context(), "POST", "/api/v1/projects/"+url.PathEscape(project)+"/credentials", nil, map[string]any{"description": desc}, &cr); err != nil {
				return err
			}
			return a.out().one(cr, cr.AccessKeyID, [][2]string{{"access key id", cr.AccessKeyID}, {"secret access key", cr.SecretAccessKey}, {"endpoint", cr.Endpoint}})
		},
	})
	create.Flags().StringVar(&desc, "description", "", "what the key is for")
	ls := withProject(&cobra.Command{
		Use: "ls", Short: "List S3 keys (never their secrets)", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, project, err := a.projectClient(cmd, project)
			if err != nil {
				return err
			}
			cs, err := client.All[client.Credential](cmd.Context(), c, "/api/v1/projects/"+url.PathEscape(project)+"/credentials", nil)
			if err != nil {
				return err
			}
			rows := make([]row, 0, len(cs))
			for _, cr := range cs {
				rows = append(rows, row{id: cr.AccessKeyID, fields: []string{cr.AccessKeyID, orDash(cr.Description), orDash(cr.ServiceID), cr.CreatedAt}})
			}
			return a.out().list(cs, []string{"ACCESS KEY", "DESCRIPTION", "SERVICE", "CREATED"}, rows)
		},
	})
	rm := withProject(&cobra.Command{
		Use: "rm ACCESS_KEY...", Short: "Revoke S3 keys", Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, project, err := a.projectClient(cmd, project)
			if err != nil {
				return err
			}
			for _, k := range argv {
				if err := c.Do(cmd.Context(), "DELETE", "/api/v1/projects/"+url.PathEscape(project)+"/credentials/"+url.PathEscape(k), nil, nil, nil); err != nil {
					return err
				}
			}
			return nil
		},
	})
	cmd.AddCommand(create, ls, rm)
	return cmd
}

type quota struct {
	ProjectID string            `json:"project_id"`
	Limits    map[string]*int64 `json:"limits"`
	Usage     map[string]int64  `json:"usage"`
}

func (a *app) quotaCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "quota", Short: "Project quotas: limits and usage"}
	var project string
	show := &cobra.Command{
		Use: "show", Short: "Show a project's limits and usage", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, project, err := a.projectClient(cmd, project)
			if err != nil {
				return err
			}
			var q quota
			if err := c.Do(cmd.Context(), "GET", "/api/v1/projects/"+url.PathEscape(project)+"/quotas", nil, nil, &q); err != nil {
				return err
			}
			var rows []row
			for _, k := range []string{"storage_bytes", "volumes", "snapshots"} {
				limit := "unlimited"
				if l := q.Limits[k]; l != nil {
					limit = fmt.Sprint(*l)
				}
				rows = append(rows, row{id: k, fields: []string{k, fmt.Sprint(q.Usage[k]), limit}})
			}
			return a.out().list(q, []string{"RESOURCE", "USED", "LIMIT"}, rows)
		},
	}
	show.Flags().StringVar(&project, "project", "", "project id")
	var storage string
	var volumes, snapshots int64
	set := &cobra.Command{
		Use: "set --project ID [--storage SIZE] [--volumes N] [--snapshots N]", Short: "Set a project's limits (staff)", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if project == "" {
				return usageError{errors.New("--project is required")}
			}
			body := map[string]any{}
			if storage != "" {
				n, err := parseSize(storage)
				if err != nil {
					return usageError{err}
				}
				body["storage_bytes"] = n
			}
			if volumes >= 0 {
				body["volumes"] = volumes
			}
			if snapshots >= 0 {
				body["snapshots"] = snapshots
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var q quota
			if err := c.Do(cmd.Context(), "PUT", "/api/v1/projects/"+url.PathEscape(project)+"/quotas", nil, body, &q); err != nil {
				return err
			}
			return a.out().one(q, q.ProjectID, [][2]string{{"project", q.ProjectID}, {"updated", time.Now().UTC().Format(time.RFC3339)}})
		},
	}
	set.Flags().StringVar(&project, "project", "", "project id")
	set.Flags().StringVar(&storage, "storage", "", "storage limit, e.g. 100G")
	set.Flags().Int64Var(&volumes, "volumes", -1, "maximum number of volumes")
	set.Flags().Int64Var(&snapshots, "snapshots", -1, "maximum number of snapshots")
	cmd.AddCommand(show, set)
	return cmd
}
