package cli

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/bytesize"
	"github.com/stowage/stowage/internal/client"
)

func volumePairs(v client.Volume) [][2]string {
	pairs := [][2]string{{"id", v.ID}, {"name", v.Name}, {"status", v.Status}, {"size", bytesize.Format(v.Size)}, {"type", v.Type},
		{"zone", v.Zone}, {"project", v.ProjectID}, {"bootable", fmt.Sprint(v.Bootable)}, {"multiattach", fmt.Sprint(v.MultiAttach)}}
	for _, a := range v.Attachments {
		pairs = append(pairs, [2]string{"attached", a.InstanceID + " " + a.ConnectionInfo.URI})
	}
	if v.Error != "" {
		pairs = append(pairs, [2]string{"error", v.Error})
	}
	return pairs
}

// async runs a request answered with 202 + job and, with wait, follows
// the job to its end.
func (a *app) async(cmd *cobra.Command, c *client.Client, method, path string, body any, wait bool) (client.Accepted, error) {
	var acc client.Accepted
	if err := c.Do(cmd.Context(), method, path, nil, body, &acc); err != nil {
		return acc, err
	}
	if wait {
		if _, err := waitJob(cmd, c, acc.Job.ID, 30*time.Minute); err != nil {
			return acc, err
		}
	}
	return acc, nil
}

// showVolume prints a volume fresh from the server (after a wait its
// status has moved on from what the 202 said).
func (a *app) showVolume(cmd *cobra.Command, c *client.Client, id string) error {
	var v client.Volume
	if err := c.Do(cmd.Context(), "GET", "/api/v1/volumes/"+url.PathEscape(id), nil, nil, &v); err != nil {
		return err
	}
	return a.out().one(v, v.ID, volumePairs(v))
}

func (a *app) volumeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Volumes: create, attach, snapshot, clone, extend …",
		Long: `Volumes of a type the server offers (stowage volume types): block volumes, which an
attached instance reaches over NBD, and filesystem volumes, which it mounts over NFSv3.
Snapshots, clones and extensions work the same for both.`}
	var project, size, typ, zone, desc, fromSnap, fromVol, fromObj, objFormat string
	var wait, multi, bootable bool
	create := &cobra.Command{
		Use: "create NAME --size SIZE [--type TYPE]", Short: "Create a volume (thin: instant whatever its size)", Args: args(cobra.ExactArgs(1)),
		Example: "  stowage volume create data --size 10G --type ssd --wait\n  stowage volume create copy --from-snapshot SNAP_ID --wait",
		RunE: func(cmd *cobra.Command, argv []string) error {
			body := map[string]any{"name": argv[0], "project_id": project, "type": typ, "zone": zone, "description": desc,
				"multiattach": multi, "bootable": bootable, "snapshot_id": fromSnap, "source_volume_id": fromVol}
			if fromObj != "" {
				ref, err := objectRef(fromObj, objFormat)
				if err != nil {
					return err
				}
				body["image_object"] = ref
			}
			if size != "" {
				n, err := bytesize.Parse(size)
				if err != nil {
					return usageError{err}
				}
				body["size"] = n
			} else if fromSnap == "" && fromVol == "" && fromObj == "" {
				return usageError{errors.New("--size is required unless the volume is made from a snapshot, volume or image")}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if fromSnap == "" && fromVol == "" {
				if body["project_id"], err = a.projectOrOnly(cmd, c, project); err != nil {
					return err
				}
			}
			acc, err := a.async(cmd, c, "POST", "/api/v1/volumes", body, wait)
			if err != nil {
				return err
			}
			return a.showVolume(cmd, c, acc.Volume.ID)
		},
	}
	f := create.Flags()
	f.StringVar(&project, "project", "", "project id (default: the only project you see)")
	f.StringVar(&size, "size", "", "size, e.g. 10G or 512M")
	f.StringVar(&typ, "type", "ssd", "volume type or one of its aliases (stowage volume types)")
	f.StringVar(&zone, "zone", "", "availability zone")
	f.StringVar(&desc, "description", "", "what the volume is for")
	f.StringVar(&fromSnap, "from-snapshot", "", "restore a snapshot into the new volume")
	f.StringVar(&fromVol, "from-volume", "", "clone a volume into the new volume")
	f.StringVar(&fromObj, "from-object", "", "import a raw or qcow2 image held in one of the project's buckets, as BUCKET/KEY")
	f.StringVar(&objFormat, "format", "", "the --from-object image's format, raw or qcow2 (default: detected)")
	f.BoolVar(&multi, "multiattach", false, "allow attaching to several instances")
	f.BoolVar(&bootable, "bootable", false, "mark the volume bootable")
	f.BoolVar(&wait, "wait", false, "wait until the volume is available")

	var status string
	ls := &cobra.Command{
		Use: "ls", Short: "List volumes", Example: "  stowage volume ls --status available", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if status != "" {
				q.Set("status", status)
			}
			if project != "" {
				q.Set("project", project)
			}
			vs, err := client.All[client.Volume](cmd.Context(), c, "/api/v1/volumes", q)
			if err != nil {
				return err
			}
			rows := make([]row, 0, len(vs))
			for _, v := range vs {
				rows = append(rows, row{id: v.ID, fields: []string{v.ID, v.Name, v.Status, bytesize.Format(v.Size), v.Type, v.Zone}})
			}
			return a.out().list(vs, []string{"ID", "NAME", "STATUS", "SIZE", "TYPE", "ZONE"}, rows)
		},
	}
	ls.Flags().StringVar(&status, "status", "", "only volumes in this status")
	ls.Flags().StringVar(&project, "project", "", "only this project's volumes")
	show := &cobra.Command{
		Use: "show ID", Short: "Show one volume", Example: "  stowage volume show VOLUME_ID --json", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.showVolume(cmd, c, argv[0])
		},
	}
	var force bool
	rm := &cobra.Command{
		Use: "rm ID...", Short: "Delete volumes (refused while attached unless --force)", Example: "  stowage volume rm VOLUME_ID --force --wait", Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			for _, id := range argv {
				q := url.Values{}
				if force {
					q.Set("force", "true")
				}
				var acc client.Accepted
				if err := c.Do(cmd.Context(), "DELETE", "/api/v1/volumes/"+url.PathEscape(id), q, nil, &acc); err != nil {
					return err
				}
				if wait {
					if _, err := waitJob(cmd, c, acc.Job.ID, 30*time.Minute); err != nil {
						return err
					}
				}
				if !a.json {
					fmt.Fprintln(a.stdout, id)
				}
			}
			return nil
		},
	}
	rm.Flags().BoolVar(&force, "force", false, "detach first")
	rm.Flags().BoolVar(&wait, "wait", false, "wait until deleted")

	// action builds the commands that POST to a volume action and print
	// the volume afterwards.
	action := func(use, short, path string, body func(argv []string) (map[string]any, error)) *cobra.Command {
		c := &cobra.Command{Use: use, Short: short, Args: args(cobra.MinimumNArgs(1)),
			RunE: func(cmd *cobra.Command, argv []string) error {
				b, err := body(argv)
				if err != nil {
					return err
				}
				cl, err := a.client()
				if err != nil {
					return err
				}
				acc, err := a.async(cmd, cl, "POST", "/api/v1/volumes/"+url.PathEscape(argv[0])+"/"+path, b, wait)
				if err != nil {
					return err
				}
				switch {
				case acc.Snapshot != nil && !wait:
					return a.out().one(*acc.Snapshot, acc.Snapshot.ID, [][2]string{{"snapshot", acc.Snapshot.ID}, {"status", acc.Snapshot.Status}, {"job", acc.Job.ID}})
				case acc.Snapshot != nil:
					return a.out().one(*acc.Snapshot, acc.Snapshot.ID, [][2]string{{"snapshot", acc.Snapshot.ID}, {"status", "available"}})
				case acc.Attachment != nil:
					return a.out().one(*acc.Attachment, acc.Attachment.ConnectionInfo.URI, [][2]string{{"attachment", acc.Attachment.ID},
						{"driver", acc.Attachment.ConnectionInfo.Driver}, {"uri", acc.Attachment.ConnectionInfo.URI}})
				case acc.Volume != nil && path == "clone":
					return a.showVolume(cmd, cl, acc.Volume.ID)
				}
				return a.showVolume(cmd, cl, argv[0])
			}}
		c.Flags().BoolVar(&wait, "wait", false, "wait for the job to finish")
		return c
	}
	extend := action("extend ID SIZE", "Grow a volume (volumes never shrink)", "extend", func(argv []string) (map[string]any, error) {
		if len(argv) != 2 {
			return nil, usageError{errors.New("give the volume id and the new size")}
		}
		n, err := bytesize.Parse(argv[1])
		if err != nil {
			return nil, usageError{err}
		}
		return map[string]any{"size": n}, nil
	})
	retype := action("retype ID TYPE", "Change a detached volume's type, keeping its data", "retype", func(argv []string) (map[string]any, error) {
		if len(argv) != 2 {
			return nil, usageError{errors.New("give the volume id and the new type")}
		}
		return map[string]any{"type": argv[1]}, nil
	})
	attach := action("attach ID INSTANCE_ID", "Attach to an instance; prints the NBD (or, for a filesystem volume, NFS) uri", "attach", func(argv []string) (map[string]any, error) {
		if len(argv) != 2 {
			return nil, usageError{errors.New("give the volume id and the instance id")}
		}
		return map[string]any{"instance_id": argv[1]}, nil
	})
	detach := action("detach ID INSTANCE_ID", "Detach from an instance; its NBD or NFS export goes away", "detach", func(argv []string) (map[string]any, error) {
		if len(argv) != 2 {
			return nil, usageError{errors.New("give the volume id and the instance id")}
		}
		return map[string]any{"instance_id": argv[1]}, nil
	})
	snapshot := action("snapshot ID NAME", "Take a snapshot (O(1) whatever the size)", "snapshots", func(argv []string) (map[string]any, error) {
		if len(argv) != 2 {
			return nil, usageError{errors.New("give the volume id and a snapshot name")}
		}
		return map[string]any{"name": argv[1]}, nil
	})
	clone := action("clone ID NAME", "Clone a volume (O(1), copy-on-write)", "clone", func(argv []string) (map[string]any, error) {
		if len(argv) != 2 {
			return nil, usageError{errors.New("give the volume id and a name for the clone")}
		}
		return map[string]any{"name": argv[1]}, nil
	})
	extend.Example = "  stowage volume extend VOLUME_ID 20G --wait"
	retype.Example = "  stowage volume retype VOLUME_ID hdd --wait"
	attach.Example = "  stowage volume attach VOLUME_ID INSTANCE_ID --wait"
	detach.Example = "  stowage volume detach VOLUME_ID INSTANCE_ID --wait"
	snapshot.Example = "  stowage volume snapshot VOLUME_ID before-upgrade --wait"
	clone.Example = "  stowage volume clone VOLUME_ID scratch --wait"
	connect := &cobra.Command{
		Use: "connect ID", Short: "Print how to reach an attached volume: NBD for block, NFS for filesystem volumes", Example: "  stowage volume connect VOLUME_ID\n  qemu-img info \"$(stowage volume connect -q VOLUME_ID)\"", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var v client.Volume
			if err := c.Do(cmd.Context(), "GET", "/api/v1/volumes/"+url.PathEscape(argv[0]), nil, nil, &v); err != nil {
				return err
			}
			if len(v.Attachments) == 0 {
				return fmt.Errorf("volume %s is not attached: `stowage volume attach %s INSTANCE_ID` first", v.ID, v.ID)
			}
			uri := v.Attachments[0].ConnectionInfo.URI
			if a.json || a.quiet {
				return a.out().one(v.Attachments[0].ConnectionInfo, uri, nil)
			}
			if rest, ok := strings.CutPrefix(uri, "nfs://"); ok {
				hostPort, export, _ := strings.Cut(rest, "/")
				host, port, _ := strings.Cut(hostPort, ":")
				fmt.Fprintf(a.stdout, "uri:        %s\nmount:      mount -t nfs -o vers=3,proto=tcp,port=%s,mountport=%s,nolock %s:/%s /mnt\nlibnfs:     nfs-ls 'nfs://%s/%s?nfsport=%s&mountport=%s&version=3'\n",
					uri, port, port, host, export, host, export, port, port)
				return nil
			}
			rest, _ := strings.CutPrefix(uri, "nbd://")
			rest, _ = strings.CutPrefix(rest, "nbds://")
			hostPort, export, _ := strings.Cut(rest, "/")
			host, port, _ := strings.Cut(hostPort, ":")
			fmt.Fprintf(a.stdout, "uri:        %s\nqemu:       qemu-system-x86_64 -drive file=%s,format=raw,if=virtio\nqemu-img:   qemu-img info %s\nnbd-client: nbd-client %s %s /dev/nbd0 -N %s\n",
				uri, uri, uri, host, port, export)
			return nil
		},
	}
	cmd.AddCommand(create, ls, show, rm, extend, retype, attach, detach, snapshot, clone, connect, a.volumeTypesCmd())
	cmd.AddCommand(a.volumeTransferCmds()...)
	return cmd
}

func (a *app) volumeTypesCmd() *cobra.Command {
	return &cobra.Command{
		Use: "types", Short: "List the volume types the server offers, with their sizes and limits", Args: args(cobra.NoArgs),
		Long: `List the volume types: block types are reached over NBD, filesystem types over NFS.
An alias names the same type in a dialect (e.g. Waldur's or CloudSigma's own names) and is
accepted wherever a type is. A limit of 0 is none.`,
		Example: "  stowage volume types\n  stowage volume types --json",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ts, err := client.All[client.VolumeType](cmd.Context(), c, "/api/v1/volume-types", nil)
			if err != nil {
				return err
			}
			rows := make([]row, 0, len(ts))
			for _, t := range ts {
				rows = append(rows, row{id: t.Name, fields: []string{t.Name, t.Kind, bytesize.Format(t.MinSize), bytesize.Format(t.MaxSize),
					limit(int64(t.IOPSLimit), ""), limit(int64(t.MiBpsLimit), " MiB/s"), orDash(strings.Join(t.Aliases, ","))}})
			}
			return a.out().list(ts, []string{"NAME", "KIND", "MIN SIZE", "MAX SIZE", "IOPS", "THROUGHPUT", "ALIASES"}, rows)
		},
	}
}

// limit prints a rate limit, where 0 is none.
func limit(n int64, unit string) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n) + unit
}
