package cli

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/bytesize"
	"github.com/stowage/stowage/internal/client"
)

// Images out of volumes, and backups: `stowage volume export`, `stowage
// volume backup` and `stowage backup ls/restore/rm`. Images in are
// `stowage volume create --from-object`.

// volumeTransferCmds are the volume subcommands that write to a bucket.
func (a *app) volumeTransferCmds() []*cobra.Command {
	var bucket, key, format, snap string
	var wait bool
	export := &cobra.Command{
		Use: "export ID --bucket BUCKET --key KEY [--format raw|qcow2]", Short: "Write a volume (or one of its snapshots) to a bucket as a raw or qcow2 image",
		Example: "  stowage volume export VOLUME_ID --bucket images --key disk.qcow2 --format qcow2 --wait",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			acc, err := a.async(cmd, c, "POST", "/api/v1/volumes/"+url.PathEscape(argv[0])+"/export",
				map[string]any{"bucket": bucket, "key": key, "format": format, "snapshot_id": snap}, wait)
			if err != nil {
				return err
			}
			return a.out().one(acc, acc.Job.ID, [][2]string{{"object", bucket + "/" + key}, {"job", acc.Job.ID}})
		},
	}
	f := export.Flags()
	f.StringVar(&bucket, "bucket", "", "one of the project's buckets")
	f.StringVar(&key, "key", "", "the object to write")
	f.StringVar(&format, "format", "raw", "raw or qcow2 (qcow2 stores only the data the volume holds)")
	f.StringVar(&snap, "snapshot", "", "export this snapshot of the volume instead of its current data")
	f.BoolVar(&wait, "wait", false, "wait until the image is written")

	var bkBucket string
	var bkWait bool
	backup := &cobra.Command{
		Use: "backup ID --bucket BUCKET", Short: "Back up a volume into a bucket: the chunks changed since its previous backup there, compressed and encrypted",
		Example: "  stowage volume backup VOLUME_ID --bucket backups --wait\n  stowage backup ls --bucket backups --volume VOLUME_ID",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			acc, err := a.async(cmd, c, "POST", "/api/v1/volumes/"+url.PathEscape(argv[0])+"/backups", map[string]any{"bucket": bkBucket}, bkWait)
			if err != nil {
				return err
			}
			if acc.Backup == nil {
				return errors.New("the server did not name the backup")
			}
			return a.out().one(acc, acc.Backup.ID, [][2]string{{"backup", acc.Backup.ID}, {"volume", acc.Backup.VolumeID},
				{"bucket", acc.Backup.Bucket}, {"job", acc.Job.ID}})
		},
	}
	backup.Flags().StringVar(&bkBucket, "bucket", "", "one of the project's buckets")
	backup.Flags().BoolVar(&bkWait, "wait", false, "wait until the backup is complete")
	var pBucket string
	var every, keepLast, keepDaily, keepWeekly int
	var off bool
	policy := &cobra.Command{
		Use:   "backup-policy ID [--bucket BUCKET --every HOURS --keep-last N [--keep-daily N] [--keep-weekly N] | --off]",
		Short: "Show, set or remove a volume's scheduled backups and their retention",
		Example: "  stowage volume backup-policy VOLUME_ID --bucket backups --every 24 --keep-last 7 --keep-weekly 4\n" +
			"  stowage volume backup-policy VOLUME_ID\n  stowage volume backup-policy VOLUME_ID --off",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			path := "/api/v1/volumes/" + url.PathEscape(argv[0]) + "/backup-policy"
			var p client.BackupPolicy
			switch {
			case off:
				if err := c.Do(cmd.Context(), "DELETE", path, nil, nil, nil); err != nil {
					return err
				}
				if !a.json {
					fmt.Fprintln(a.stdout, "scheduled backups off")
				}
				return nil
			case pBucket != "":
				err = c.Do(cmd.Context(), "PUT", path, nil, map[string]any{"bucket": pBucket, "every_hours": every,
					"keep_last": keepLast, "keep_daily": keepDaily, "keep_weekly": keepWeekly}, &p)
			default:
				err = c.Do(cmd.Context(), "GET", path, nil, nil, &p)
			}
			if err != nil {
				return err
			}
			if !p.Enabled {
				return a.out().one(p, p.VolumeID, [][2]string{{"scheduled backups", "off"}})
			}
			return a.out().one(p, p.VolumeID, [][2]string{{"bucket", p.Bucket}, {"every", fmt.Sprintf("%d h", p.EveryHours)},
				{"keep last", fmt.Sprint(p.KeepLast)}, {"keep daily", fmt.Sprint(p.KeepDaily)}, {"keep weekly", fmt.Sprint(p.KeepWeekly)},
				{"next run", ptrOrDash(p.NextRunAt)}})
		},
	}
	pf := policy.Flags()
	pf.StringVar(&pBucket, "bucket", "", "one of the project's buckets; setting it sets the policy")
	pf.IntVar(&every, "every", 24, "hours between backups")
	pf.IntVar(&keepLast, "keep-last", 7, "keep the newest N backups")
	pf.IntVar(&keepDaily, "keep-daily", 0, "also keep the newest backup of each of the last N days")
	pf.IntVar(&keepWeekly, "keep-weekly", 0, "also keep the newest backup of each of the last N weeks")
	pf.BoolVar(&off, "off", false, "remove the policy (the backups stay)")
	return []*cobra.Command{export, backup, policy}
}

func (a *app) backupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "backup", Short: "Volume backups in buckets: list, restore, delete",
		Long: `Backups of a volume live in one of its project's buckets (stowage volume backup) and are
named by the bucket, the volume's id and the backup's id. Every backup restores on its own, also
after the volume is deleted; deleting one never breaks the others.`}
	var project, bucket, volume string
	where := func(c *cobra.Command) {
		c.Flags().StringVar(&project, "project", "", "project id (default: the only project you see)")
		c.Flags().StringVar(&bucket, "bucket", "", "the bucket holding the backups")
		c.Flags().StringVar(&volume, "volume", "", "the volume the backups were taken of")
	}
	// target is the client and the query naming the backup set.
	target := func(cmd *cobra.Command) (*client.Client, url.Values, error) {
		if bucket == "" || volume == "" {
			return nil, nil, usageError{errors.New("--bucket and --volume are required")}
		}
		c, err := a.client()
		if err != nil {
			return nil, nil, err
		}
		p, err := a.projectOrOnly(cmd, c, project)
		if err != nil {
			return nil, nil, err
		}
		return c, url.Values{"project_id": {p}, "bucket": {bucket}, "volume_id": {volume}}, nil
	}
	ls := &cobra.Command{
		Use: "ls --bucket BUCKET --volume VOLUME_ID", Short: "List a volume's backups, oldest first",
		Example: "  stowage backup ls --bucket backups --volume VOLUME_ID", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, q, err := target(cmd)
			if err != nil {
				return err
			}
			var out struct {
				Items []client.Backup `json:"items"`
			}
			if err := c.Do(cmd.Context(), "GET", "/api/v1/backups?"+q.Encode(), nil, nil, &out); err != nil {
				return err
			}
			rows := make([]row, 0, len(out.Items))
			for _, b := range out.Items {
				kind := "full"
				if b.Parent != nil {
					kind = "incremental"
				}
				rows = append(rows, row{id: b.ID, fields: []string{b.ID, b.CreatedAt, kind, bytesize.Format(b.Size), bytesize.Format(b.StoredBytes)}})
			}
			return a.out().list(out.Items, []string{"ID", "CREATED", "KIND", "SIZE", "STORED"}, rows)
		},
	}
	where(ls)
	var name, typ string
	var wait, revert bool
	restore := &cobra.Command{
		Use:   "restore BACKUP_ID --bucket BUCKET --volume VOLUME_ID (--name NAME | --revert)",
		Short: "Restore a backup into a new volume, or revert the (detached) volume it was taken of to it",
		Example: "  stowage backup restore BACKUP_ID --bucket backups --volume VOLUME_ID --name restored --wait\n" +
			"  stowage backup restore BACKUP_ID --bucket backups --volume VOLUME_ID --revert --wait",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, q, err := target(cmd)
			if err != nil {
				return err
			}
			if revert {
				if cmd.Flags().Changed("name") || cmd.Flags().Changed("type") {
					return usageError{errors.New("--revert keeps the volume: --name and --type are for a new one")}
				}
				if _, err := a.async(cmd, c, "POST", "/api/v1/volumes/"+url.PathEscape(volume)+"/revert",
					map[string]any{"backup": map[string]any{"bucket": bucket, "volume_id": volume, "backup_id": argv[0]}}, wait); err != nil {
					return err
				}
				return a.showVolume(cmd, c, volume)
			}
			if name == "" {
				name = "restored"
			}
			acc, err := a.async(cmd, c, "POST", "/api/v1/volumes", map[string]any{"project_id": q.Get("project_id"), "name": name, "type": typ,
				"backup": map[string]any{"bucket": bucket, "volume_id": volume, "backup_id": argv[0]}}, wait)
			if err != nil {
				return err
			}
			return a.showVolume(cmd, c, acc.Volume.ID)
		},
	}
	where(restore)
	restore.Flags().StringVar(&name, "name", "restored", "the new volume's name")
	restore.Flags().StringVar(&typ, "type", "", "the new volume's type (default: the first type)")
	restore.Flags().BoolVar(&wait, "wait", false, "wait until the volume is available")
	restore.Flags().BoolVar(&revert, "revert", false, "put the volume the backup was taken of back to it (it must be detached) instead of making a new one")
	rm := &cobra.Command{
		Use: "rm BACKUP_ID... --bucket BUCKET --volume VOLUME_ID", Short: "Delete backups (the others stay restorable)",
		Example: "  stowage backup rm BACKUP_ID --bucket backups --volume VOLUME_ID --wait", Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, q, err := target(cmd)
			if err != nil {
				return err
			}
			for _, id := range argv {
				if _, err := a.async(cmd, c, "DELETE", "/api/v1/backups/"+url.PathEscape(id)+"?"+q.Encode(), nil, wait); err != nil {
					return err
				}
				if !a.json {
					fmt.Fprintln(a.stdout, id)
				}
			}
			return nil
		},
	}
	where(rm)
	rm.Flags().BoolVar(&wait, "wait", false, "wait until deleted")
	cmd.AddCommand(ls, restore, rm)
	return cmd
}

// objectRef parses --from-object BUCKET/KEY.
func objectRef(v, format string) (map[string]any, error) {
	b, k, ok := strings.Cut(v, "/")
	if !ok || b == "" || k == "" {
		return nil, usageError{errors.New("--from-object takes BUCKET/KEY")}
	}
	return map[string]any{"bucket": b, "key": k, "format": format}, nil
}
