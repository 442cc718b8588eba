package native

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

type snapshotJSON struct {
	ID           string   `json:"id"`
	ProjectID    string   `json:"project_id"`
	VolumeID     string   `json:"volume_id"`
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	Size         int64    `json:"size"`
	Status       string   `json:"status"`
	KeptUntil    *string  `json:"kept_until"`
	Restorations []string `json:"restorations"`
	CreatedAt    string   `json:"created_at"`
	UpdatedAt    string   `json:"updated_at"`
}

func snapshotOut(s volume.Snapshot) snapshotJSON {
	return snapshotJSON{ID: s.ID, ProjectID: s.ProjectID, VolumeID: s.VolumeID, Name: s.Name, Description: s.Description,
		Size: s.Size, Status: string(s.Status), KeptUntil: timePtr(s.KeptUntil), Restorations: s.Restorations,
		CreatedAt: stamp(s.Created), UpdatedAt: stamp(s.Updated)}
}

func (a *API) createSnapshot(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name        string     `json:"name"`
		Description string     `json:"description"`
		KeptUntil   *time.Time `json:"kept_until"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	sn, j, err := a.volumes.CreateSnapshot(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"),
		volume.SnapshotCreate{Name: in.Name, Description: in.Description, KeptUntil: in.KeptUntil})
	if err != nil {
		return err
	}
	sj := snapshotOut(sn)
	return a.writeAccepted(w, accepted{Snapshot: &sj}, j)
}

func (a *API) listSnapshots(w http.ResponseWriter, r *http.Request) error {
	pr, err := httpapi.ParsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := volume.SnapshotFilter{ProjectID: q.Get("project"), VolumeID: q.Get("volume"), Name: q.Get("name"),
		Status: volume.SnapshotStatus(q.Get("status"))}
	res, err := a.volumes.ListSnapshots(r.Context(), httpapi.Principal(r.Context()), f, pr)
	if err != nil {
		return err
	}
	return writeList(w, res, snapshotOut)
}

func (a *API) getSnapshot(w http.ResponseWriter, r *http.Request) error {
	sn, err := a.volumes.GetSnapshot(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, snapshotOut(sn))
}

func (a *API) updateSnapshot(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name        *string         `json:"name"`
		Description *string         `json:"description"`
		KeptUntil   json.RawMessage `json:"kept_until"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	u := volume.SnapshotUpdate{Name: in.Name, Description: in.Description}
	switch string(in.KeptUntil) {
	case "":
	case "null":
		u.ClearKeptUntil = true
	default:
		var t time.Time
		if err := json.Unmarshal(in.KeptUntil, &t); err != nil {
			return errs.Field("kept_until", "kept_until must be an RFC 3339 time or null")
		}
		u.KeptUntil = &t
	}
	sn, err := a.volumes.UpdateSnapshot(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), u)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, snapshotOut(sn))
}

func (a *API) deleteSnapshot(w http.ResponseWriter, r *http.Request) error {
	j, err := a.volumes.DeleteSnapshot(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	return a.writeAccepted(w, accepted{}, j)
}

// restoreSnapshot makes a new volume from the snapshot.
func (a *API) restoreSnapshot(w http.ResponseWriter, r *http.Request) error {
	var in volumeCreateJSON
	if err := a.decode(r, &in); err != nil {
		return err
	}
	if in.SnapshotID != "" || in.SourceVolumeID != "" {
		return errs.Field("snapshot_id", "the source is the snapshot in the path")
	}
	sn, err := a.volumes.GetSnapshot(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	c := in.core()
	c.SnapshotID = sn.ID
	if c.ProjectID == "" {
		c.ProjectID = sn.ProjectID
	}
	return a.createVolumeFrom(w, r, c)
}

func (a *API) exportSnapshot(w http.ResponseWriter, r *http.Request) error {
	att, err := a.volumes.ExportSnapshot(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusCreated, a.attachmentOut(att))
}

func (a *API) listSnapshotExports(w http.ResponseWriter, r *http.Request) error {
	as, err := a.volumes.SnapshotExports(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := list[attachmentJSON]{Items: []attachmentJSON{}}
	for _, x := range as {
		out.Items = append(out.Items, a.attachmentOut(x))
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

func (a *API) unexportSnapshot(w http.ResponseWriter, r *http.Request) error {
	if err := a.volumes.UnexportSnapshot(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), r.PathValue("export_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
