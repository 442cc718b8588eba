package waldur

import (
	"fmt"
	"net/http"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/httpapi"
)

// The read-only objects a volume's hyperlinks point to: its type, its
// availability zone, its tenant (the project) and the service settings.

// typeByID finds a volume type by its derived uuid.
func (a *API) typeByID(id string) (volume.Type, bool) {
	for _, t := range a.vols.Catalog().Types() {
		if derivedID("volume-type", t.Name) == id {
			return t, true
		}
	}
	return volume.Type{}, false
}

func (a *API) typeJSON(r *http.Request, t volume.Type) map[string]any {
	return map[string]any{"url": typeURL(r, t.Name), "uuid": hex(derivedID("volume-type", t.Name)), "name": t.Name,
		"description": t.Kind + " volumes", "backend_id": t.Name, "settings": a.settingsURL(r),
		"settings_uuid": hex(a.settingsID()), "is_default": t.Name == a.vols.Catalog().Types()[0].Name}
}

// listTypes serves the catalog's types; types are global, so every
// authenticated user sees them all.
func (a *API) listTypes(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := pageOf(r)
	if err != nil {
		return err
	}
	var items []map[string]any
	for _, t := range a.vols.Catalog().Types() {
		if n := r.URL.Query().Get("name"); n != "" && !icontains(t.Name, n) {
			continue
		}
		items = append(items, a.typeJSON(r, t))
	}
	return writePage(w, r, slice(items, pg, size), len(items), pg, size)
}

func (a *API) getType(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "uuid")
	if err != nil {
		return err
	}
	t, ok := a.typeByID(id)
	if !ok {
		return errNotFound
	}
	return writeOne(w, r, http.StatusOK, a.typeJSON(r, t))
}

func (a *API) zoneJSON(r *http.Request, z string) map[string]any {
	return map[string]any{"url": zoneURL(r, z), "uuid": hex(derivedID("zone", z)), "name": z, "available": true,
		"settings": a.settingsURL(r), "settings_uuid": hex(a.settingsID())}
}

func (a *API) listZones(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := pageOf(r)
	if err != nil {
		return err
	}
	var items []map[string]any
	for _, z := range a.vols.Catalog().Zones {
		items = append(items, a.zoneJSON(r, z))
	}
	return writePage(w, r, slice(items, pg, size), len(items), pg, size)
}

// zoneByID finds a zone by its derived uuid.
func (a *API) zoneByID(id string) (string, bool) {
	for _, z := range a.vols.Catalog().Zones {
		if derivedID("zone", z) == id {
			return z, true
		}
	}
	return "", false
}

func (a *API) getZone(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "uuid")
	if err != nil {
		return err
	}
	z, ok := a.zoneByID(id)
	if !ok {
		return errNotFound
	}
	return writeOne(w, r, http.StatusOK, a.zoneJSON(r, z))
}

func (l *osLookups) tenantJSON(p identity.Project) map[string]any {
	m := map[string]any{"url": tenantURL(l.r, p.ID), "uuid": hex(p.ID), "name": p.Name, "description": p.Description}
	l.baseJSON(m, p.ID)
	m["error_message"] = ""
	m["resource_type"] = "OpenStack.Tenant"
	m["state"] = stOK
	m["runtime_state"] = ""
	m["created"], m["modified"] = stamp(p.Created), stamp(p.Created)
	m["backend_id"] = p.ID
	l.marketJSON(m, nil)
	return m
}

func (a *API) listTenants(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := pageOf(r)
	if err != nil {
		return err
	}
	p := httpapi.Principal(r.Context())
	ps, err := allOf(func(req page.Request) (page.Result[identity.Project], error) {
		return a.identity.ListProjects(r.Context(), p, identity.ProjectFilter{}, req)
	})
	if err != nil {
		return fmt.Errorf("list tenants: %w", err)
	}
	l := a.osLookups(r)
	var items []map[string]any
	for _, pr := range ps {
		items = append(items, l.tenantJSON(pr))
	}
	if err := sortItems(r, items, []string{"name", "created"}); err != nil {
		return err
	}
	return writePage(w, r, slice(items, pg, size), len(items), pg, size)
}

func (a *API) getTenant(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "uuid")
	if err != nil {
		return err
	}
	pr, err := a.identity.GetProject(r.Context(), httpapi.Principal(r.Context()), id)
	if err != nil {
		return fmt.Errorf("get tenant %s: %w", id, err)
	}
	return writeOne(w, r, http.StatusOK, a.osLookups(r).tenantJSON(pr))
}

func (a *API) serviceSettingsJSON(r *http.Request) map[string]any {
	c := a.vols.Catalog()
	return map[string]any{"url": a.settingsURL(r), "uuid": hex(a.settingsID()), "name": c.Region, "type": "OpenStack",
		"state": stOK, "error_message": "", "shared": true, "customer": nil, "customer_name": nil, "customer_native_name": "",
		"scope": nil, "options": map[string]any{"availability_zones": c.Zones}}
}

func (a *API) listServiceSettings(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := pageOf(r)
	if err != nil {
		return err
	}
	return writePage(w, r, slice([]map[string]any{a.serviceSettingsJSON(r)}, pg, size), 1, pg, size)
}

func (a *API) getServiceSettings(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "uuid")
	if err != nil {
		return err
	}
	if id != a.settingsID() {
		return errNotFound
	}
	return writeOne(w, r, http.StatusOK, a.serviceSettingsJSON(r))
}
