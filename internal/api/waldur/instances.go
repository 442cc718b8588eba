package waldur

import (
	"fmt"
	"net/http"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/httpapi"
)

// requireManager is §6.3's rule for unsafe methods: staff, owner, or a
// manager (our member) or admin of the project; anyone else gets 403.
func (a *API) requireManager(r *http.Request, projectID string) error {
	if err := a.identity.RequireProjectRole(r.Context(), httpapi.Principal(r.Context()), projectID, access.Member); err != nil {
		return errNoPermission
	}
	return nil
}

// instanceRuntime renders an instance's power state as a Nova status.
func instanceRuntime(in volume.Instance) string {
	if in.PowerState == volume.Running {
		return "ACTIVE"
	}
	return "SHUTOFF"
}

func (l *osLookups) instanceJSON(in volume.Instance) map[string]any {
	m := map[string]any{"url": instanceURL(l.r, in.ID), "uuid": hex(in.ID), "name": in.Name, "description": in.Description}
	l.baseJSON(m, in.ProjectID)
	m["error_message"] = ""
	m["resource_type"] = "OpenStack.Instance"
	m["state"] = stOK
	m["runtime_state"] = instanceRuntime(in)
	m["created"], m["modified"] = stamp(in.Created), stamp(in.Updated)
	m["backend_id"] = in.ID
	m["tenant"], m["tenant_uuid"] = tenantURL(l.r, in.ProjectID), hex(in.ProjectID)
	m["action"], m["action_details"] = "", map[string]any{}
	l.marketJSON(m, nil)
	return m
}

func (a *API) allInstances(r *http.Request) ([]volume.Instance, error) {
	p := httpapi.Principal(r.Context())
	list, err := allOf(func(req page.Request) (page.Result[volume.Instance], error) {
		return a.vols.ListInstances(r.Context(), p, "", req)
	})
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return list, nil
}

func (a *API) listInstances(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := pageOf(r)
	if err != nil {
		return err
	}
	list, err := a.allInstances(r)
	if err != nil {
		return err
	}
	projectID, hasProject, err := uuidParam(r, "project_uuid")
	if err != nil {
		return err
	}
	l := a.osLookups(r)
	var items []map[string]any
	for _, in := range list {
		if hasProject && in.ProjectID != projectID {
			continue
		}
		if n := r.URL.Query().Get("name"); n != "" && !icontains(in.Name, n) {
			continue
		}
		items = append(items, l.instanceJSON(in))
	}
	if err := sortItems(r, items, []string{"name", "created", "state", "runtime_state"}); err != nil {
		return err
	}
	return writePage(w, r, slice(items, pg, size), len(items), pg, size)
}

func (a *API) getInstance(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "uuid")
	if err != nil {
		return err
	}
	in, err := a.vols.GetInstance(r.Context(), httpapi.Principal(r.Context()), id)
	if err != nil {
		return fmt.Errorf("get instance %s: %w", id, err)
	}
	return writeOne(w, r, http.StatusOK, a.osLookups(r).instanceJSON(in))
}
