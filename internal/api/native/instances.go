package native

import (
	"net/http"

	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/httpapi"
)

type instanceJSON struct {
	ID          string   `json:"id"`
	ProjectID   string   `json:"project_id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	PowerState  string   `json:"power_state"`
	Addresses   []string `json:"addresses"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
}

func instanceOut(in volume.Instance) instanceJSON {
	addrs := in.Addresses
	if addrs == nil {
		addrs = []string{}
	}
	return instanceJSON{ID: in.ID, ProjectID: in.ProjectID, Name: in.Name, Description: in.Description, PowerState: in.PowerState,
		Addresses: addrs, CreatedAt: stamp(in.Created), UpdatedAt: stamp(in.Updated)}
}

func (a *API) createInstance(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		ProjectID   string   `json:"project_id"`
		Name        string   `json:"name"`
		Description string   `json:"description"`
		PowerState  string   `json:"power_state"`
		Addresses   []string `json:"addresses"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	x, err := a.volumes.CreateInstance(r.Context(), httpapi.Principal(r.Context()), in.ProjectID, in.Name, in.Description, in.PowerState,
		in.Addresses)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusCreated, instanceOut(x))
}

func (a *API) listInstances(w http.ResponseWriter, r *http.Request) error {
	pr, err := httpapi.ParsePage(r)
	if err != nil {
		return err
	}
	res, err := a.volumes.ListInstances(r.Context(), httpapi.Principal(r.Context()), r.URL.Query().Get("project"), pr)
	if err != nil {
		return err
	}
	return writeList(w, res, instanceOut)
}

func (a *API) getInstance(w http.ResponseWriter, r *http.Request) error {
	x, err := a.volumes.GetInstance(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, instanceOut(x))
}

func (a *API) updateInstance(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name        *string `json:"name"`
		Description *string `json:"description"`
		PowerState  *string `json:"power_state"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	x, err := a.volumes.UpdateInstance(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), in.Name, in.Description, in.PowerState)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, instanceOut(x))
}

func (a *API) deleteInstance(w http.ResponseWriter, r *http.Request) error {
	if err := a.volumes.DeleteInstance(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
