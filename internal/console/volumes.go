package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
)

const gib = 1 << 30

type volumesData struct {
	Volumes   []volume.Volume
	Types     []volume.Type
	Snapshots []volume.Snapshot
	Next      string
}

func (c *Console) volumeList(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	v, err := c.page(ctx, s, r.PathValue("id"), "volumes", "Volumes")
	if err != nil {
		return err
	}
	res, err := c.volumes.ListVolumes(ctx, s.p, volume.Filter{ProjectID: v.Project.ID}, page.Request{Limit: 100, After: r.URL.Query().Get("after")})
	if err != nil {
		return err
	}
	snaps, err := c.volumes.ListSnapshots(ctx, s.p, volume.SnapshotFilter{ProjectID: v.Project.ID}, page.Request{Limit: 100})
	if err != nil {
		return err
	}
	v.Data = volumesData{Volumes: res.Items, Next: res.Next, Types: c.volumes.Catalog().Types(), Snapshots: snaps.Items}
	return c.render(w, http.StatusOK, "volumes", v)
}

// gibField reads a size in GiB.
func gibField(r *http.Request, name string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue(name)), 10, 64)
	if err != nil || n <= 0 || n > 1<<20 {
		return 0, errs.Field(name, "size must be a whole number of GiB, from 1")
	}
	return n * gib, nil
}

func (c *Console) volumeCreate(w http.ResponseWriter, r *http.Request, s *session) error {
	size, err := gibField(r, "size_gib")
	if err != nil {
		return err
	}
	in := volume.Create{ProjectID: r.PathValue("id"), Name: strings.TrimSpace(r.PostFormValue("name")), Size: size,
		Type: r.PostFormValue("type"), SnapshotID: r.PostFormValue("snapshot_id"), VolumeID: r.PostFormValue("volume_id")}
	vol, j, err := c.volumes.CreateVolume(r.Context(), s.p, in)
	if err != nil {
		return err
	}
	return seeJob(w, r, Base+"volumes/"+url.PathEscape(vol.ID), j)
}

// seeJob sends the browser to the thing a job changes, which follows the
// job until it ends.
func seeJob(w http.ResponseWriter, r *http.Request, to string, j jobs.Job) error {
	if j.ID != "" {
		to += "?job=" + url.QueryEscape(j.ID)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// connection is one copyable line of how to reach an attachment; ID
// names it for its copy button.
type connection struct {
	ID, Label, Line string
}

type attachmentView struct {
	volume.Attachment
	Instance    string
	Connections []connection
}

type volumeData struct {
	Volume      volume.Volume
	Types       []volume.Type
	Attachments []attachmentView
	Snapshots   []volume.Snapshot
	Instances   []volume.Instance
	Job         string
}

// connections are the lines a user pastes to use an attachment; the core
// gives no URI to callers who may not see the export name.
func connections(a volume.Attachment, ci volume.ConnectionInfo) []connection {
	cs := lines(ci)
	for i := range cs {
		cs[i].ID = fmt.Sprintf("line-%s-%d", a.ID, i)
	}
	return cs
}

func lines(ci volume.ConnectionInfo) []connection {
	if ci.URI == "" {
		return nil
	}
	u, err := url.Parse(ci.URI)
	if err != nil {
		return nil
	}
	export := strings.TrimPrefix(u.Path, "/")
	if ci.Driver == "nfs" {
		return []connection{{Label: "NFS", Line: ci.URI}, {Label: "mount", Line: "mount -t nfs -o vers=3,proto=tcp,port=" + u.Port() + ",mountport=" + u.Port() +
			" " + u.Hostname() + ":/" + export + " /mnt"}}
	}
	return []connection{
		{Label: "NBD URI", Line: ci.URI},
		{Label: "qemu", Line: "qemu-system-x86_64 -drive file=" + ci.URI + ",format=raw,if=virtio"},
		{Label: "qemu-img", Line: "qemu-img info " + ci.URI},
		{Label: "nbd", Line: "nbd-client " + u.Hostname() + " " + u.Port() + " /dev/nbd0 -N " + export},
		{Label: "mount", Line: "mount /dev/nbd0 /mnt"},
	}
}

func (c *Console) volumePage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	vol, err := c.volumes.GetVolume(ctx, s.p, r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := c.page(ctx, s, vol.ProjectID, "volumes", "Volume "+vol.Name)
	if err != nil {
		return err
	}
	d := volumeData{Volume: vol, Job: r.URL.Query().Get("job"), Types: c.volumes.Catalog().Types()}
	insts, err := c.volumes.ListInstances(ctx, s.p, vol.ProjectID, page.Request{Limit: 100})
	if err != nil {
		return err
	}
	d.Instances = insts.Items
	names := map[string]string{}
	for _, in := range insts.Items {
		names[in.ID] = in.Name
	}
	for _, a := range vol.Attachments {
		d.Attachments = append(d.Attachments, attachmentView{Attachment: a, Instance: names[a.InstanceID],
			Connections: connections(a, c.volumes.ConnectionInfo(a))})
	}
	snaps, err := c.volumes.ListSnapshots(ctx, s.p, volume.SnapshotFilter{VolumeID: vol.ID}, page.Request{Limit: 100})
	if err != nil {
		return err
	}
	d.Snapshots = snaps.Items
	v.Data = d
	return c.render(w, http.StatusOK, "volume", v)
}

func (c *Console) volumeAction(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	id := r.PathValue("id")
	back := Base + "volumes/" + url.PathEscape(id)
	var j jobs.Job
	var err error
	switch r.PathValue("action") {
	case "snapshot":
		_, j, err = c.volumes.CreateSnapshot(ctx, s.p, id, volume.SnapshotCreate{Name: strings.TrimSpace(r.PostFormValue("name"))})
	case "attach":
		_, j, err = c.volumes.Attach(ctx, s.p, id, r.PostFormValue("instance_id"))
	case "detach":
		j, err = c.volumes.Detach(ctx, s.p, id, r.PostFormValue("instance_id"))
	case "extend":
		var size int64
		if size, err = gibField(r, "size_gib"); err == nil {
			_, j, err = c.volumes.ExtendVolume(ctx, s.p, id, size)
		}
	case "clone":
		var src volume.Volume
		if src, err = c.volumes.GetVolume(ctx, s.p, id); err == nil {
			var vol volume.Volume
			vol, j, err = c.volumes.CreateVolume(ctx, s.p, volume.Create{ProjectID: src.ProjectID,
				Name: strings.TrimSpace(r.PostFormValue("name")), Size: src.Size, Type: src.Type, VolumeID: src.ID})
			back = Base + "volumes/" + url.PathEscape(vol.ID)
		}
	case "retype":
		_, err = c.volumes.RetypeVolume(ctx, s.p, id, r.PostFormValue("type"))
	case "revert":
		_, j, err = c.volumes.RevertVolume(ctx, s.p, id, r.PostFormValue("snapshot_id"))
	case "delete":
		var vol volume.Volume
		if vol, err = c.volumes.GetVolume(ctx, s.p, id); err == nil {
			if r.PostFormValue("confirm") != vol.Name {
				return errs.Field("confirm", "type the volume's name, %q, to delete it", vol.Name)
			}
			j, err = c.volumes.DeleteVolume(ctx, s.p, id, false)
			back = Base + "projects/" + url.PathEscape(vol.ProjectID) + "/volumes"
		}
	default:
		return errs.E(errs.NotExist, "no such action")
	}
	if err != nil {
		return err
	}
	return seeJob(w, r, back, j)
}
