package native

import (
	"encoding/json"
	"net/http"

	"github.com/stowage/stowage/internal/httpapi"
	"github.com/stowage/stowage/internal/jobs"
)

type jobJSON struct {
	ID           string          `json:"id"`
	Kind         string          `json:"kind"`
	ProjectID    string          `json:"project_id,omitempty"`
	ResourceType string          `json:"resource_type"`
	ResourceID   string          `json:"resource_id"`
	State        string          `json:"state"`
	Attempts     int             `json:"attempts"`
	MaxAttempts  int             `json:"max_attempts"`
	Error        string          `json:"error"`
	Result       json.RawMessage `json:"result"`
	CreatedAt    string          `json:"created_at"`
	UpdatedAt    string          `json:"updated_at"`
	FinishedAt   *string         `json:"finished_at"`
}

func jobOut(j jobs.Job) jobJSON {
	return jobJSON{ID: j.ID, Kind: j.Kind, ProjectID: j.ProjectID, ResourceType: j.ResourceType, ResourceID: j.ResourceID,
		State: string(j.State), Attempts: j.Attempts, MaxAttempts: j.MaxAttempts, Error: j.Error, Result: j.Result,
		CreatedAt: stamp(j.Created), UpdatedAt: stamp(j.Updated), FinishedAt: timePtr(j.Finished)}
}

func (a *API) listJobs(w http.ResponseWriter, r *http.Request) error {
	pr, err := httpapi.ParsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := jobs.Filter{State: jobs.State(q.Get("state")), Kind: q.Get("kind"), ResourceType: q.Get("resource_type"), ResourceID: q.Get("resource_id")}
	res, err := a.jobs.List(r.Context(), httpapi.Principal(r.Context()).Scope(), f, pr)
	if err != nil {
		return err
	}
	return writeList(w, res, jobOut)
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) error {
	j, err := a.jobs.Get(r.Context(), httpapi.Principal(r.Context()).Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, jobOut(j))
}
