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

// snapshotAction deletes a snapshot, or restores it into a new volume.
func (c *Console) snapshotAction(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	sn, err := c.volumes.GetSnapshot(ctx, s.p, r.PathValue("id"))
	if err != nil {
		return err
	}
	back := Base + "projects/" + url.PathEscape(sn.ProjectID) + "/snapshots"
	var j jobs.Job
	switch r.PathValue("action") {
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

func (c *Console) instanceAction(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	in, err := c.volumes.GetInstance(ctx, s.p, r.PathValue("id"))
	if err != nil {
		return err
	}
	switch r.PathValue("action") {
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
