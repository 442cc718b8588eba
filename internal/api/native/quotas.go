package native

import (
	"net/http"

	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/httpapi"
)

type limitsJSON struct {
	StorageBytes *int64 `json:"storage_bytes"`
	Volumes      *int64 `json:"volumes"`
	Snapshots    *int64 `json:"snapshots"`
}

type usageJSON struct {
	StorageBytes int64 `json:"storage_bytes"`
	Volumes      int64 `json:"volumes"`
	Snapshots    int64 `json:"snapshots"`
}

type quotaJSON struct {
	ProjectID string     `json:"project_id"`
	Limits    limitsJSON `json:"limits"`
	Usage     usageJSON  `json:"usage"`
}

func quotaOut(project string, l volume.Limits, u volume.Usage) quotaJSON {
	return quotaJSON{ProjectID: project, Limits: limitsJSON{StorageBytes: l.StorageBytes, Volumes: l.Volumes, Snapshots: l.Snapshots},
		Usage: usageJSON{StorageBytes: u.StorageBytes, Volumes: u.Volumes, Snapshots: u.Snapshots}}
}

func (a *API) getQuota(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	l, u, err := a.volumes.Quota(r.Context(), httpapi.Principal(r.Context()), id)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, quotaOut(id, l, u))
}

// setQuota replaces all limits; a null or missing limit means unlimited.
func (a *API) setQuota(w http.ResponseWriter, r *http.Request) error {
	var in limitsJSON
	if err := a.decode(r, &in); err != nil {
		return err
	}
	id := r.PathValue("id")
	l, u, err := a.volumes.SetQuota(r.Context(), httpapi.Principal(r.Context()), id,
		volume.Limits{StorageBytes: in.StorageBytes, Volumes: in.Volumes, Snapshots: in.Snapshots})
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, quotaOut(id, l, u))
}

type eventJSON struct {
	ID           string         `json:"id"`
	ProjectID    string         `json:"project_id,omitempty"`
	UserID       string         `json:"user_id,omitempty"`
	Action       string         `json:"action"`
	ResourceType string         `json:"resource_type"`
	ResourceID   string         `json:"resource_id"`
	Detail       map[string]any `json:"detail"`
	CreatedAt    string         `json:"created_at"`
}

func eventOut(e volume.Event) eventJSON {
	return eventJSON{ID: e.ID, ProjectID: e.ProjectID, UserID: e.UserID, Action: e.Action, ResourceType: e.ResourceType,
		ResourceID: e.ResourceID, Detail: e.Detail, CreatedAt: stamp(e.Created)}
}

func (a *API) listEvents(w http.ResponseWriter, r *http.Request) error {
	pr, err := httpapi.ParsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := volume.EventFilter{ProjectID: q.Get("project"), ResourceType: q.Get("resource_type"), ResourceID: q.Get("resource_id"),
		Action: q.Get("action")}
	res, err := a.volumes.Events(r.Context(), httpapi.Principal(r.Context()), f, pr)
	if err != nil {
		return err
	}
	return writeList(w, res, eventOut)
}
