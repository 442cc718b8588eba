package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
)

type snapshotsData struct {
	Snapshots []volume.Snapshot
	Volumes   map[string]string // names by id
	Next      string
}

func (c *Console) snapshotList(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	v, err := c.page(ctx, s, r.PathValue("id"), "snapshots", "Snapshots")
	if err != nil {
		return err
	}
	res, err := c.volumes.ListSnapshots(ctx, s.p, volume.SnapshotFilter{ProjectID: v.Project.ID},
		page.Request{Limit: 100, After: r.URL.Query().Get("after")})
	if err != nil {
		return err
	}
	vols, err := c.volumes.ListVolumes(ctx, s.p, volume.Filter{ProjectID: v.Project.ID}, page.Request{Limit: page.MaxLimit})
	if err != nil {
		return err
	}
	d := snapshotsData{Snapshots: res.Items, Next: res.Next, Volumes: map[string]string{}}
	for _, x := range vols.Items {
		d.Volumes[x.ID] = x.Name
	}
	v.Data = d
	return c.render(w, http.StatusOK, "snapshots", v)
}

func snapshotPath(id string) string { return Base + "snapshots/" + url.PathEscape(id) }

type exportView struct {
	volume.Attachment
	Connections []connection
}

type snapshotData struct {
	Snapshot volume.Snapshot
	Volume   string
	Exports  []exportView
}

// snapshotPage shows a snapshot and its read-only exports; the core
// gives their names (the capability) only to members and up.
func (c *Console) snapshotPage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	sn, err := c.volumes.GetSnapshot(ctx, s.p, r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := c.page(ctx, s, sn.ProjectID, "snapshots", "Snapshot "+sn.Name)
	if err != nil {
		return err
	}
	d := snapshotData{Snapshot: sn, Volume: sn.VolumeID}
	if vol, err := c.volumes.GetVolume(ctx, s.p, sn.VolumeID); err == nil {
		d.Volume = vol.Name
	}
	as, err := c.volumes.SnapshotExports(ctx, s.p, sn.ID)
	if err != nil {
		return err
	}
	for _, a := range as {
		d.Exports = append(d.Exports, exportView{Attachment: a, Connections: connections(a, c.volumes.ConnectionInfo(a))})
	}
	v.Data = d
	return c.render(w, http.StatusOK, "snapshot", v)
}

// snapshotAction deletes a snapshot, restores it into a new volume, or
// exports it read-only (and revokes such an export).
func (c *Console) snapshotAction(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	sn, err := c.volumes.GetSnapshot(ctx, s.p, r.PathValue("id"))
	if err != nil {
		return err
	}
	back := Base + "projects/" + url.PathEscape(sn.ProjectID) + "/snapshots"
	var j jobs.Job
	switch r.PathValue("action") {
	case "export":
		_, err = c.volumes.ExportSnapshot(ctx, s.p, sn.ID)
		back = snapshotPath(sn.ID)
	case "unexport":
		err = c.volumes.UnexportSnapshot(ctx, s.p, sn.ID, r.PostFormValue("export_id"))
		back = snapshotPath(sn.ID)
	case "delete":
		j, err = c.volumes.DeleteSnapshot(ctx, s.p, sn.ID)
	case "restore":
		var vol volume.Volume
		vol, j, err = c.volumes.CreateVolume(ctx, s.p, volume.Create{ProjectID: sn.ProjectID,
			Name: strings.TrimSpace(r.PostFormValue("name")), Size: sn.Size, SnapshotID: sn.ID})
		back = Base + "volumes/" + url.PathEscape(vol.ID)
	default:
		return errs.E(errs.NotExist, "no such action")
	}
	if err != nil {
		return err
	}
	return seeJob(w, r, back, j)
}

func (c *Console) instanceList(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	v, err := c.page(ctx, s, r.PathValue("id"), "instances", "Instances")
	if err != nil {
		return err
	}
	res, err := c.volumes.ListInstances(ctx, s.p, v.Project.ID, page.Request{Limit: 100, After: r.URL.Query().Get("after")})
	if err != nil {
		return err
	}
	v.Data = res
	return c.render(w, http.StatusOK, "instances", v)
}

func (c *Console) instanceCreate(w http.ResponseWriter, r *http.Request, s *session) error {
	addrs := strings.Fields(strings.ReplaceAll(r.PostFormValue("addresses"), ",", " "))
	in, err := c.volumes.CreateInstance(r.Context(), s.p, r.PathValue("id"), strings.TrimSpace(r.PostFormValue("name")), "",
		volume.Running, addrs)
	if err != nil {
		return err
	}
	http.Redirect(w, r, Base+"projects/"+url.PathEscape(in.ProjectID)+"/instances", http.StatusSeeOther)
	return nil
}

type instanceData struct {
	Instance   volume.Instance
	Attached   []attachedView
	Attachable []volume.Volume
	Job        string
}

type attachedView struct {
	Volume      volume.Volume
	State       string
	Connections []connection
}

// instancePage shows an instance with its volumes, and attaches more of
// the project's volumes to it.
func (c *Console) instancePage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	in, err := c.volumes.GetInstance(ctx, s.p, r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := c.page(ctx, s, in.ProjectID, "instances", "Instance "+in.Name)
	if err != nil {
		return err
	}
	d := instanceData{Instance: in, Job: r.URL.Query().Get("job")}
	vols, err := c.volumes.ListVolumes(ctx, s.p, volume.Filter{ProjectID: in.ProjectID}, page.Request{Limit: page.MaxLimit})
	if err != nil {
		return err
	}
	for _, vol := range vols.Items {
		attached := false
		for _, a := range vol.Attachments {
			if a.InstanceID == in.ID {
				attached = true
				d.Attached = append(d.Attached, attachedView{Volume: vol, State: a.State, Connections: connections(a, c.volumes.ConnectionInfo(a))})
			}
		}
		// The choice offers what the core would attach; it still decides.
		if !attached && (vol.Status == volume.Available || vol.MultiAttach && vol.Status == volume.InUse) {
			d.Attachable = append(d.Attachable, vol)
		}
	}
	v.Data = d
	return c.render(w, http.StatusOK, "instance", v)
}

func (c *Console) instanceAction(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	in, err := c.volumes.GetInstance(ctx, s.p, r.PathValue("id"))
	if err != nil {
		return err
	}
	here := Base + "instances/" + url.PathEscape(in.ID)
	var j jobs.Job
	switch r.PathValue("action") {
	case "attach":
		if _, j, err = c.volumes.Attach(ctx, s.p, r.PostFormValue("volume_id"), in.ID); err != nil {
			return err
		}
		return seeJob(w, r, here, j)
	case "detach":
		if j, err = c.volumes.Detach(ctx, s.p, r.PostFormValue("volume_id"), in.ID); err != nil {
			return err
		}
		return seeJob(w, r, here, j)
	case "delete":
		err = c.volumes.DeleteInstance(ctx, s.p, in.ID)
	case "start", "stop":
		power := volume.Running
		if r.PathValue("action") == "stop" {
			power = volume.Stopped
		}
		_, err = c.volumes.UpdateInstance(ctx, s.p, in.ID, nil, nil, &power)
	default:
		return errs.E(errs.NotExist, "no such action")
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, Base+"projects/"+url.PathEscape(in.ProjectID)+"/instances", http.StatusSeeOther)
	return nil
}
