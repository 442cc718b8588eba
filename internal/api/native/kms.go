package native

import (
	"net/http"

	"github.com/stowage/stowage/internal/core/kms"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

// WithKMS adds the key service (a project's SSE-KMS keys); its routes are
// in the table either way, so the OpenAPI test sees them.
func (a *API) WithKMS(k *kms.Service) *API {
	a.kms = k
	return a
}

// kmsKeyJSON is a key as the API shows it: never its material.
type kmsKeyJSON struct {
	ID           string  `json:"id"`
	ARN          string  `json:"arn"`
	ProjectID    string  `json:"project_id"`
	Alias        string  `json:"alias,omitempty"`
	Description  string  `json:"description"`
	State        string  `json:"state"`
	CreatedAt    string  `json:"created_at"`
	DeletionDate *string `json:"deletion_date,omitempty"`
}

func (a *API) kmsKeyOut(k kms.Key) kmsKeyJSON {
	out := kmsKeyJSON{ID: k.ID, ARN: a.kms.ARN(k), ProjectID: k.ProjectID, Description: k.Description, State: k.State, CreatedAt: stamp(k.Created)}
	if k.Alias != "" {
		out.Alias = "alias/" + k.Alias
	}
	if !k.DeletionDate.IsZero() {
		out.DeletionDate = timePtr(&k.DeletionDate)
	}
	return out
}

// keyService is the key service, or NotExist on a node built without one.
func (a *API) keyService() (*kms.Service, error) {
	if a.kms == nil {
		return nil, errs.E(errs.NotExist, "this node has no key service")
	}
	return a.kms, nil
}

func (a *API) listKMSKeys(w http.ResponseWriter, r *http.Request) error {
	k, err := a.keyService()
	if err != nil {
		return err
	}
	ks, err := k.Keys(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := list[kmsKeyJSON]{Items: []kmsKeyJSON{}}
	for _, key := range ks {
		out.Items = append(out.Items, a.kmsKeyOut(key))
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

func (a *API) createKMSKey(w http.ResponseWriter, r *http.Request) error {
	k, err := a.keyService()
	if err != nil {
		return err
	}
	var in struct {
		Alias       string `json:"alias"`
		Description string `json:"description"`
	}
	if r.ContentLength != 0 {
		if err := a.decode(r, &in); err != nil {
			return err
		}
	}
	key, err := k.Create(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), kms.CreateInput{Alias: in.Alias, Description: in.Description})
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusCreated, a.kmsKeyOut(key))
}

func (a *API) getKMSKey(w http.ResponseWriter, r *http.Request) error {
	k, err := a.keyService()
	if err != nil {
		return err
	}
	key, err := k.Key(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), r.PathValue("key_id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, a.kmsKeyOut(key))
}

// kmsAction is one of the state changes of a key: disable, enable,
// schedule-deletion (with pending_window_days) and cancel-deletion.
func (a *API) kmsAction(w http.ResponseWriter, r *http.Request) error {
	k, err := a.keyService()
	if err != nil {
		return err
	}
	p, project, ref := httpapi.Principal(r.Context()), r.PathValue("id"), r.PathValue("key_id")
	var key kms.Key
	switch action := r.PathValue("action"); action {
	case "disable":
		key, err = k.Disable(r.Context(), p, project, ref)
	case "enable":
		key, err = k.Enable(r.Context(), p, project, ref)
	case "schedule-deletion":
		var in struct {
			Days int `json:"pending_window_days"`
		}
		if r.ContentLength != 0 {
			if err := a.decode(r, &in); err != nil {
				return err
			}
		}
		key, err = k.ScheduleDeletion(r.Context(), p, project, ref, in.Days)
	case "cancel-deletion":
		key, err = k.CancelDeletion(r.Context(), p, project, ref)
	default:
		return errs.E(errs.NotExist, "unknown key action %q: use disable, enable, schedule-deletion or cancel-deletion", action)
	}
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, a.kmsKeyOut(key))
}
