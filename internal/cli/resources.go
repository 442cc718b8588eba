package cli

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/bytesize"
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
		Use: "ls", Short: "List snapshots", Example: "  stowage snapshot ls --volume VOLUME_ID", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if volume != "" {
				q.Set("volume", volume)
			}
			ss, err := client.All[client.Snapshot](cmd.Context(), c, "/api/v1/snapshots", q)
			if err != nil {
				return err
			}
			rows := make([]row, 0, len(ss))
			for _, s := range ss {
				rows = append(rows, row{id: s.ID, fields: []string{s.ID, s.Name, s.Status, bytesize.Format(s.Size), s.VolumeID, ptrOrDash(s.KeptUntil)}})
			}
			return a.out().list(ss, []string{"ID", "NAME", "STATUS", "SIZE", "VOLUME", "KEPT UNTIL"}, rows)
		},
	}
	ls.Flags().StringVar(&volume, "volume", "", "only snapshots of this volume")
	show := &cobra.Command{
		Use: "show ID", Short: "Show a snapshot", Example: "  stowage snapshot show SNAPSHOT_ID --json", Args: args(cobra.ExactArgs(1)),
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
				{"size", bytesize.Format(s.Size)}, {"kept until", ptrOrDash(s.KeptUntil)}, {"restorations", fmt.Sprint(len(s.Restorations))}})
		},
	}
	var wait bool
	restore := &cobra.Command{
		Use: "restore ID NAME", Short: "Restore a snapshot into a new volume", Example: "  stowage snapshot restore SNAPSHOT_ID restored --wait", Args: args(cobra.ExactArgs(2)),
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
		Use: "rm ID...", Short: "Delete snapshots", Example: "  stowage snapshot rm SNAPSHOT_ID --wait", Args: args(cobra.MinimumNArgs(1)),
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
	var addresses []string
	create := &cobra.Command{
		Use: "create NAME", Short: "Register an instance",
		Example: "  stowage instance create vm1 -q\n  stowage instance create vm2 --address 192.0.2.7   # NFS exports attached to it serve this address",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, project, err := a.projectClient(cmd, project)
			if err != nil {
				return err
			}
			body := map[string]any{"project_id": project, "name": argv[0]}
			if len(addresses) > 0 {
				body["addresses"] = addresses
			}
			var in client.Instance
			if err := c.Do(cmd.Context(), "POST", "/api/v1/instances", nil, body, &in); err != nil {
				return err
			}
			return a.out().one(in, in.ID, [][2]string{{"id", in.ID}, {"name", in.Name}, {"power", in.PowerState}})
		},
	}
	create.Flags().StringVar(&project, "project", "", "project id")
	create.Flags().StringSliceVar(&addresses, "address", nil, "the instance's client address or prefix (repeat for more); NFS exports attached to it serve only these, or only this node when none")
	ls := &cobra.Command{
		Use: "ls", Short: "List instances", Example: "  stowage instance ls --json", Args: args(cobra.NoArgs),
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
		Use: "rm ID...", Short: "Remove instances", Example: "  stowage instance rm INSTANCE_ID", Args: args(cobra.MinimumNArgs(1)),
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
		{"public", fmt.Sprint(b.Public)}, {"size", bytesize.Format(b.SizeBytes)}, {"objects", fmt.Sprint(b.ObjectCount)}}
}

// listBuckets prints a project's buckets with their usage (bucket ls, and
// ls without an argument).
func (a *app) listBuckets(cmd *cobra.Command, project string) error {
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
		rows = append(rows, row{id: b.Name, fields: []string{b.Name, bytesize.Format(b.SizeBytes), fmt.Sprint(b.ObjectCount), b.Tier, fmt.Sprint(b.Public)}})
	}
	return a.out().list(bs, []string{"NAME", "SIZE", "OBJECTS", "TIER", "PUBLIC"}, rows)
}

func (a *app) bucketCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bucket", Short: "S3 buckets: create, list with usage, public/private, delete"}
	var project, tier string
	var public bool
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a bucket (names are global and never reused)", Example: "  stowage bucket create photos\n  stowage bucket create assets --public --project PROJECT_ID", Args: args(cobra.ExactArgs(1)),
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
		Use: "ls", Short: "List buckets with their usage", Example: "  stowage bucket ls --project PROJECT_ID --json", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.listBuckets(cmd, project) },
	}
	ls.Flags().StringVar(&project, "project", "", "project id")
	one := func(use, short, method string, body map[string]any) *cobra.Command {
		c := &cobra.Command{Use: use + " NAME", Short: short, Args: args(cobra.ExactArgs(1)), Example: "  stowage bucket " + use + " photos",
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
		Use: "create", Short: "Create an S3 key; the secret is printed once", Example: "  stowage credential create --description backups --json", Args: args(cobra.NoArgs),
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
		Use: "ls", Short: "List S3 keys (never their secrets)", Example: "  stowage credential ls --project PROJECT_ID", Args: args(cobra.NoArgs),
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
		Use: "rm ACCESS_KEY...", Short: "Revoke S3 keys", Example: "  stowage credential rm ACCESS_KEY_ID", Args: args(cobra.MinimumNArgs(1)),
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

func (a *app) notificationTargetCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "notification-target", Short: "Webhooks that receive the S3 event notifications of a project's buckets"}
	var project, target string
	withProject := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringVar(&project, "project", "", "project id")
		return c
	}
	path := func(project string) string {
		return "/api/v1/projects/" + url.PathEscape(project) + "/notification-targets"
	}
	create := withProject(&cobra.Command{
		Use: "create NAME --url URL", Short: "Register a webhook; its ARN goes into bucket configurations, its signing secret is printed once",
		Example: "  stowage notification-target create hook --url https://hooks.example.com/s3 --json", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, project, err := a.projectClient(cmd, project)
			if err != nil {
				return err
			}
			var t client.NotificationTarget
			if err := c.Do(cmd.Context(), "POST", path(project), nil, map[string]any{"name": argv[0], "url": target}, &t); err != nil {
				return err
			}
			return a.out().one(t, t.ARN, [][2]string{{"name", t.Name}, {"url", t.URL}, {"arn", t.ARN}, {"secret", t.Secret}})
		},
	})
	create.Flags().StringVar(&target, "url", "", "http or https URL the operator's --notify-allow lets the node reach")
	ls := withProject(&cobra.Command{
		Use: "ls", Short: "List webhooks (never their secrets)", Example: "  stowage notification-target ls --project PROJECT_ID", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, project, err := a.projectClient(cmd, project)
			if err != nil {
				return err
			}
			ts, err := client.All[client.NotificationTarget](cmd.Context(), c, path(project), nil)
			if err != nil {
				return err
			}
			rows := make([]row, 0, len(ts))
			for _, t := range ts {
				rows = append(rows, row{id: t.Name, fields: []string{t.Name, t.URL, t.ARN, t.CreatedAt}})
			}
			return a.out().list(ts, []string{"NAME", "URL", "ARN", "CREATED"}, rows)
		},
	})
	rm := withProject(&cobra.Command{
		Use: "rm NAME...", Short: "Delete webhooks; rules naming them deliver nothing", Example: "  stowage notification-target rm hook", Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, project, err := a.projectClient(cmd, project)
			if err != nil {
				return err
			}
			for _, n := range argv {
				if err := c.Do(cmd.Context(), "DELETE", path(project)+"/"+url.PathEscape(n), nil, nil, nil); err != nil {
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

// print shows limits and usage as a table (show and set alike), storage
// in binary units; --json keeps bytes.
func (q quota) print(o output) error {
	var rows []row
	for _, r := range []struct {
		key, name string
		format    func(int64) string
	}{{"storage_bytes", "storage", bytesize.Format}, {"volumes", "volumes", count}, {"snapshots", "snapshots", count}} {
		limit := "unlimited"
		if l := q.Limits[r.key]; l != nil {
			limit = r.format(*l)
		}
		rows = append(rows, row{id: r.key, fields: []string{r.name, r.format(q.Usage[r.key]), limit}})
	}
	return o.list(q, []string{"RESOURCE", "USED", "LIMIT"}, rows)
}

func count(n int64) string { return strconv.FormatInt(n, 10) }

func (a *app) quotaCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "quota", Short: "Project quotas: limits and usage"}
	var project string
	show := &cobra.Command{
		Use: "show", Short: "Show a project's limits and usage", Args: args(cobra.NoArgs),
		Example: "  stowage quota show --project PROJECT_ID",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, project, err := a.projectClient(cmd, project)
			if err != nil {
				return err
			}
			var q quota
			if err := c.Do(cmd.Context(), "GET", "/api/v1/projects/"+url.PathEscape(project)+"/quotas", nil, nil, &q); err != nil {
				return err
			}
			return q.print(a.out())
		},
	}
	show.Flags().StringVar(&project, "project", "", "project id")
	cmd.AddCommand(show, a.quotaSetCmd("set", "quota set"))
	return cmd
}

// quotaSetCmd is `quota set`, and `admin quota-set` for operators who look
// there; full is the command's path for its examples. Limits not given keep
// their value: the API replaces all three.
func (a *app) quotaSetCmd(use, full string) *cobra.Command {
	var project, storage, volumes, snapshots string
	set := &cobra.Command{
		Use: use + " --project ID [--storage SIZE] [--volumes N] [--snapshots N]", Short: "Set a project's limits (staff)", Args: args(cobra.NoArgs),
		Example: "  stowage " + full + " --project PROJECT_ID --storage 100G --volumes 20\n  stowage " + full + " --project PROJECT_ID --snapshots unlimited",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if project == "" {
				return usageError{errors.New("--project is required")}
			}
			if storage == "" && volumes == "" && snapshots == "" {
				return usageError{errors.New("give at least one of --storage, --volumes and --snapshots")}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			path := "/api/v1/projects/" + url.PathEscape(project) + "/quotas"
			var q quota
			if err := c.Do(cmd.Context(), "GET", path, nil, nil, &q); err != nil {
				return err
			}
			if q.Limits == nil {
				q.Limits = map[string]*int64{}
			}
			for _, f := range []struct {
				name, flag, v string
				parse         func(string) (int64, error)
			}{{"storage_bytes", "--storage", storage, bytesize.Parse}, {"volumes", "--volumes", volumes, parseCount}, {"snapshots", "--snapshots", snapshots, parseCount}} {
				switch f.v {
				case "":
				case "unlimited":
					q.Limits[f.name] = nil
				default:
					n, err := f.parse(f.v)
					if err != nil {
						return usageError{fmt.Errorf("%s: %w", f.flag, err)}
					}
					q.Limits[f.name] = &n
				}
			}
			if err := c.Do(cmd.Context(), "PUT", path, nil, q.Limits, &q); err != nil {
				return err
			}
			return q.print(a.out())
		},
	}
	set.Flags().StringVar(&project, "project", "", "project id")
	set.Flags().StringVar(&storage, "storage", "", "storage limit, e.g. 100G, or unlimited")
	set.Flags().StringVar(&volumes, "volumes", "", "maximum number of volumes, or unlimited")
	set.Flags().StringVar(&snapshots, "snapshots", "", "maximum number of snapshots, or unlimited")
	return set
}

// parseCount reads a limit on a number of things.
func parseCount(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q: want a number of at least 0, or unlimited", s)
	}
	return n, nil
}
