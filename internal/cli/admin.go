package cli

import (
	"bufio"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/bytesize"
	"github.com/stowage/stowage/internal/client"
)

func (a *app) adminCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Operator commands (staff only): users, organisations, quotas, storage pools"}

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
		Use: "org-create NAME", Short: "Create an organisation", Example: "  stowage admin org-create acme --description 'ACME Corp' -q", Args: args(cobra.ExactArgs(1)),
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
	cmd.AddCommand(user, org, member, a.quotaSetCmd("quota-set", "admin quota-set"), a.poolsCmd(), a.fsckCmd(), a.gcCmd(), a.adminBackupCmd(), a.nodesCmd())
	return cmd
}

func (a *app) poolsCmd() *cobra.Command {
	return &cobra.Command{
		Use: "pools", Short: "List the storage pools and how full they are", Args: args(cobra.NoArgs),
		Long: `List the block pool (volumes, snapshots and clones) and the object store (buckets) with
what they hold, what that takes on disk and what the file system under each has left. The
object store's USED is what the buckets' counters say; its ON DISK is the blob files plus
the small objects kept in the database, and also counts parts of unfinished uploads and
orphan blobs, which admin gc removes.`,
		Example: "  stowage admin pools\n  stowage admin pools --json",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var p client.Pools
			if err := c.Do(cmd.Context(), "GET", "/api/v1/admin/pools", nil, nil, &p); err != nil {
				return err
			}
			b, o := p.Block, p.Object
			return a.out().list(p, []string{"POOL", "USED", "ON DISK", "FREE", "SIZE", "HOLDS"}, []row{
				{id: "block", fields: []string{"block", bytesize.Format(b.UsedBytes), bytesize.Format(b.DiskBytes), bytesize.Format(b.FreeBytes), bytesize.Format(b.CapacityBytes),
					fmt.Sprintf("%s, %s of %s", plural(b.Volumes, "volume"), plural(b.Chunks, "chunk"), bytesize.Format(b.ChunkSize))}},
				{id: "object", fields: []string{"object", bytesize.Format(o.ObjectBytes), bytesize.Format(o.BlobBytes + o.InlineBytes), bytesize.Format(o.FreeBytes), bytesize.Format(o.CapacityBytes),
					fmt.Sprintf("%s, %s (%d inline), %s", plural(o.Buckets, "bucket"), plural(o.Objects, "object"), o.InlineObjects, plural(o.Blobs, "blob"))}},
			})
		},
	}
}

func (a *app) nodesCmd() *cobra.Command {
	return &cobra.Command{
		Use: "nodes", Short: "List the server nodes sharing the database and whether each is alive", Args: args(cobra.NoArgs),
		Long: `List every stowage serve process that shares this database: its name, the addresses it
tells clients, its version, and its health. A node is up while its heartbeat (every 2 s) is
under 6 s old; a node that died stays listed as down until a node of its name starts again,
and a node that shut down cleanly is gone. The node that answered is marked with *.`,
		Example: "  stowage admin nodes\n  stowage admin nodes --json",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var l client.List[client.Node]
			if err := c.Do(cmd.Context(), "GET", "/api/v1/nodes", nil, nil, &l); err != nil {
				return err
			}
			rows := make([]row, len(l.Items))
			for i, n := range l.Items {
				health, name := "down", n.Name
				if n.Healthy {
					health = "up"
				}
				if n.Self {
					name += " *"
				}
				beat := n.HeartbeatAt
				if t, err := time.Parse(time.RFC3339Nano, beat); err == nil {
					beat = time.Since(t).Round(time.Second).String() + " ago"
				}
				rows[i] = row{id: n.ID, fields: []string{name, health, n.APIAddress, n.S3Address, n.NBDAddress, n.NFSAddress, n.Version, beat}}
			}
			return a.out().list(l.Items, []string{"NAME", "HEALTH", "API", "S3", "NBD", "NFS", "VERSION", "HEARTBEAT"}, rows)
		},
	}
}

func (a *app) fsckCmd() *cobra.Command {
	return &cobra.Command{
		Use: "fsck", Short: "Check the block pool's reference counts; exits 1 when it finds problems", Args: args(cobra.NoArgs),
		Long: `Recompute every reference count of the block pool from the volume maps and compare it
with the stored one. Volume I/O pauses while it runs: one pass over the map pages.`,
		Example: "  stowage admin fsck\n  stowage admin fsck --json",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var r client.FsckReport
			if err := c.Do(cmd.Context(), "POST", "/api/v1/admin/pools/block/fsck", nil, nil, &r); err != nil {
				return err
			}
			pairs := [][2]string{{"clean", fmt.Sprint(r.Clean)}, {"volumes", fmt.Sprint(r.Volumes)}, {"pages", fmt.Sprint(r.Pages)},
				{"chunks", fmt.Sprint(r.Chunks)}}
			for _, p := range r.Problems {
				pairs = append(pairs, [2]string{"problem", p})
			}
			if err := a.out().one(r, fmt.Sprint(r.Clean), pairs); err != nil {
				return err
			}
			if !r.Clean {
				return fmt.Errorf("the block pool has %s", plural(int64(len(r.Problems)), "problem"))
			}
			return nil
		},
	}
}

func (a *app) gcCmd() *cobra.Command {
	var minAge time.Duration
	cmd := &cobra.Command{
		Use: "gc [--min-age 1h]", Short: "Remove object blobs nothing refers to", Args: args(cobra.NoArgs),
		Long: `Remove the temp files and blobs of the object store that no object and no part of an
unfinished upload refers to: what a crash or a lost delete left behind. Only files last
written more than --min-age ago go, so that writes in flight are never touched.`,
		Example: "  stowage admin gc\n  stowage admin gc --min-age 24h --json",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if minAge < time.Minute {
				return usageError{errors.New("--min-age must be at least 1m: younger blobs may belong to writes in flight")}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var r client.GCReport
			if err := c.Do(cmd.Context(), "POST", "/api/v1/admin/pools/object/gc", nil, map[string]any{"min_age_seconds": int64(minAge.Seconds())}, &r); err != nil {
				return err
			}
			return a.out().one(r, fmt.Sprint(r.Removed), [][2]string{{"removed", fmt.Sprint(r.Removed)}, {"older than", r.Cutoff}})
		},
	}
	cmd.Flags().DurationVar(&minAge, "min-age", time.Hour, "remove only files last written longer ago than this")
	return cmd
}
