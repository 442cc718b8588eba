package waldur

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/httpapi"
)

// registerOpenStack mounts the OpenStack plugin's routes. Volumes are made
// and removed through marketplace orders, so POST and DELETE on them are 405.
func (a *API) registerOpenStack(mux httpapi.Mux) {
	priv := a.surface.Private
	mux.Handle("GET /api/openstack-volumes/{$}", priv(a.listVolumes))
	mux.Handle("POST /api/openstack-volumes/{$}", priv(methodNotAllowed))
	mux.Handle("GET /api/openstack-volumes/{uuid}/{$}", priv(a.getVolume))
	mux.Handle("PUT /api/openstack-volumes/{uuid}/{$}", priv(a.updateVolume))
	mux.Handle("PATCH /api/openstack-volumes/{uuid}/{$}", priv(a.updateVolume))
	mux.Handle("DELETE /api/openstack-volumes/{uuid}/{$}", priv(methodNotAllowed))
	mux.Handle("POST /api/openstack-volumes/{uuid}/{action}/{$}", priv(a.volumeAction))

	mux.Handle("GET /api/openstack-snapshots/{$}", priv(a.listSnapshots))
	mux.Handle("POST /api/openstack-snapshots/{$}", priv(methodNotAllowed))
	mux.Handle("GET /api/openstack-snapshots/{uuid}/{$}", priv(a.getSnapshot))
	mux.Handle("PUT /api/openstack-snapshots/{uuid}/{$}", priv(a.updateSnapshot))
	mux.Handle("PATCH /api/openstack-snapshots/{uuid}/{$}", priv(a.updateSnapshot))
	mux.Handle("DELETE /api/openstack-snapshots/{uuid}/{$}", priv(a.deleteSnapshot))
	mux.Handle("GET /api/openstack-snapshots/{uuid}/restorations/{$}", priv(a.snapshotRestorations))
	mux.Handle("POST /api/openstack-snapshots/{uuid}/restore/{$}", priv(a.restoreSnapshot))

	mux.Handle("GET /api/openstack-instances/{$}", priv(a.listInstances))
	mux.Handle("GET /api/openstack-instances/{uuid}/{$}", priv(a.getInstance))
	mux.Handle("GET /api/openstack-volume-types/{$}", priv(a.listTypes))
	mux.Handle("GET /api/openstack-volume-types/{uuid}/{$}", priv(a.getType))
	mux.Handle("GET /api/openstack-volume-availability-zones/{$}", priv(a.listZones))
	mux.Handle("GET /api/openstack-volume-availability-zones/{uuid}/{$}", priv(a.getZone))
	mux.Handle("GET /api/openstack-tenants/{$}", priv(a.listTenants))
	mux.Handle("GET /api/openstack-tenants/{uuid}/{$}", priv(a.getTenant))
	mux.Handle("GET /api/service-settings/{$}", priv(a.listServiceSettings))
	mux.Handle("GET /api/service-settings/{uuid}/{$}", priv(a.getServiceSettings))
}

// Types, zones and the one service settings object have no rows of their
// own: their uuids are derived from their names so urls stay stable
// across restarts and servers with the same configuration.
func derivedID(kind, name string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("stowage:"+kind+":"+name)).String()
}

func (a *API) settingsID() string { return derivedID("service-settings", a.vols.Catalog().Region) }

func (a *API) settingsURL(r *http.Request) string {
	return base(r) + "/api/service-settings/" + hex(a.settingsID()) + "/"
}

func typeURL(r *http.Request, name string) string {
	return base(r) + "/api/openstack-volume-types/" + hex(derivedID("volume-type", name)) + "/"
}

func zoneURL(r *http.Request, name string) string {
	return base(r) + "/api/openstack-volume-availability-zones/" + hex(derivedID("zone", name)) + "/"
}

// A tenant is Waldur's OpenStack project; ours is the Stowage project
// itself, so a tenant shares its project's uuid.
func tenantURL(r *http.Request, projectID string) string {
	return base(r) + "/api/openstack-tenants/" + hex(projectID) + "/"
}

// osLookups memoises, for one request, the related objects a representation
// names, so a page of volumes in one project reads the project once.
type osLookups struct {
	a         *API
	r         *http.Request
	p         identity.Principal
	projects  map[string]*identity.Project
	orgs      map[string]string
	instances map[string]*volume.Instance
	resources map[string]*marketInfo
	volumes   map[string]*volume.Volume
}

type marketInfo struct {
	res marketplace.Resource
	off marketplace.Offering
}

func (a *API) osLookups(r *http.Request) *osLookups {
	return &osLookups{a: a, r: r, p: httpapi.Principal(r.Context()), projects: map[string]*identity.Project{},
		orgs: map[string]string{}, instances: map[string]*volume.Instance{}, resources: map[string]*marketInfo{},
		volumes: map[string]*volume.Volume{}}
}

func (l *osLookups) project(id string) *identity.Project {
	if p, ok := l.projects[id]; ok {
		return p
	}
	var out *identity.Project
	if p, err := l.a.identity.GetProject(l.r.Context(), l.p, id); err == nil {
		out = &p
	}
	l.projects[id] = out
	return out
}

func (l *osLookups) orgName(id string) string {
	if n, ok := l.orgs[id]; ok {
		return n
	}
	n := l.a.orgName(l.r, id)
	l.orgs[id] = n
	return n
}

func (l *osLookups) instance(id string) *volume.Instance {
	if in, ok := l.instances[id]; ok {
		return in
	}
	var out *volume.Instance
	if in, err := l.a.vols.GetInstance(l.r.Context(), l.p, id); err == nil {
		out = &in
	}
	l.instances[id] = out
	return out
}

func (l *osLookups) volume(id string) *volume.Volume {
	if v, ok := l.volumes[id]; ok {
		return v
	}
	var out *volume.Volume
	if v, err := l.a.vols.GetVolume(l.r.Context(), l.p, id); err == nil {
		out = &v
	}
	l.volumes[id] = out
	return out
}

// market finds the marketplace resource a volume was ordered through from
// the tag the volume provisioner puts on it.
func (l *osLookups) market(tags []string) *marketInfo {
	for _, t := range tags {
		id, ok := cutTag(t)
		if !ok {
			continue
		}
		if m, ok := l.resources[id]; ok {
			return m
		}
		var out *marketInfo
		if res, err := l.a.market.Resource(l.r.Context(), l.p, id); err == nil {
			if off, err := l.a.market.Offering(l.r.Context(), res.OfferingID); err == nil {
				out = &marketInfo{res: res, off: off}
			}
		}
		l.resources[id] = out
		return out
	}
	return nil
}

func cutTag(t string) (string, bool) {
	const prefix = "marketplace-resource:"
	if len(t) > len(prefix) && t[:len(prefix)] == prefix {
		return t[len(prefix):], true
	}
	return "", false
}

// baseJSON fills the fields every Waldur structure resource has.
func (l *osLookups) baseJSON(m map[string]any, projectID string) {
	r := l.r
	m["service_name"] = l.a.vols.Catalog().Region
	m["service_settings"] = l.a.settingsURL(r)
	m["service_settings_uuid"] = hex(l.a.settingsID())
	m["service_settings_state"] = "OK"
	m["service_settings_error_message"] = ""
	m["project"] = base(r) + "/api/projects/" + hex(projectID) + "/"
	m["project_uuid"] = hex(projectID)
	m["customer_native_name"], m["customer_abbreviation"] = "", ""
	if p := l.project(projectID); p != nil {
		m["project_name"] = p.Name
		m["customer"] = base(r) + "/api/customers/" + hex(p.OrganisationID) + "/"
		m["customer_uuid"] = hex(p.OrganisationID)
		m["customer_name"] = l.orgName(p.OrganisationID)
	}
	m["error_traceback"] = ""
	m["access_url"] = nil
}

// marketJSON fills the marketplace_* fields; they are null for objects
// that were not ordered (snapshots, restored volumes).
func (l *osLookups) marketJSON(m map[string]any, mi *marketInfo) {
	for _, f := range []string{"marketplace_offering_uuid", "marketplace_offering_name", "marketplace_offering_type",
		"marketplace_category_uuid", "marketplace_category_name", "marketplace_resource_uuid", "marketplace_plan_uuid",
		"marketplace_resource_state"} {
		m[f] = nil
	}
	m["marketplace_offering_plugin_options"] = map[string]any{}
	m["is_usage_based"], m["is_limit_based"] = false, false
	if mi == nil {
		return
	}
	m["marketplace_offering_uuid"] = hex(mi.off.ID)
	m["marketplace_offering_name"] = mi.off.Name
	m["marketplace_offering_type"] = mi.off.Type
	m["marketplace_category_uuid"] = categoryID(mi.off.Category)
	m["marketplace_category_name"] = mi.off.Category
	m["marketplace_resource_uuid"] = hex(mi.res.ID)
	if mi.res.PlanID != "" {
		m["marketplace_plan_uuid"] = hex(mi.res.PlanID)
	}
	m["marketplace_resource_state"] = mi.res.State
	for _, c := range mi.off.Components {
		switch c.BillingType {
		case "usage":
			m["is_usage_based"] = true
		case "limit":
			m["is_limit_based"] = true
		}
	}
}

// body reads a JSON object; an empty body is an empty object, as DRF's
// request.data is when httpie or a client sends no items.
func (a *API) body(r *http.Request) (map[string]any, error) {
	in := map[string]any{}
	if r.ContentLength == 0 {
		return in, nil
	}
	if err := a.decode(r, &in); err != nil {
		return nil, err
	}
	if in == nil {
		in = map[string]any{}
	}
	return in, nil
}
