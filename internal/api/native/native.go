// Package native owns Stowage's own REST API under /api/v1: resources as the
// core models them, problem+json errors, cursor pagination, and the OpenAPI
// document that describes every route. It translates HTTP to core calls and
// decides nothing itself.
package native

import (
	_ "embed"
	"log/slog"
	"net/http"
	"time"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/kms"
	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/core/metering"
	"github.com/stowage/stowage/internal/core/notification"
	"github.com/stowage/stowage/internal/core/objectstorage"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/core/pool"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/httpapi"
	"github.com/stowage/stowage/internal/jobs"
)

//go:embed openapi.json
var openapiDoc []byte

// API serves /api/v1.
type API struct {
	identity *identity.Service
	jobs     *jobs.Service
	volumes  *volume.Service
	market   *marketplace.Service
	objects  *objectstorage.Manager
	pools    *pool.Service
	metering *metering.Service
	kms      *kms.Service
	nodes    NodeLister
	notify   *notification.Service
	// s3Endpoint is the URL S3 clients use, as configured or bound.
	s3Endpoint func() string
	surface    httpapi.Surface
	maxBody    int64
	// sessionTTL is how long a session from POST /api/v1/sessions lasts.
	sessionTTL time.Duration
}

// New builds the API over the core services.
func New(id *identity.Service, js *jobs.Service, m *marketplace.Service, objects *objectstorage.Manager, s3Endpoint func() string,
	log *slog.Logger, maxBody int64) *API {
	return &API{
		identity: id, jobs: js, market: m, objects: objects, s3Endpoint: s3Endpoint, maxBody: maxBody, sessionTTL: 24 * time.Hour,
		surface: httpapi.Surface{Auth: id, Schemes: httpapi.Bearer, Audience: identity.AudienceNative, Render: httpapi.ProblemRenderer(log)},
	}
}

// WithVolumes adds the block service (volumes, snapshots, instances,
// quotas, events); its routes are in the table either way, so the OpenAPI
// test sees them.
func (a *API) WithVolumes(v *volume.Service) *API {
	a.volumes = v
	return a
}

// Route is one registered endpoint; the table is also what the OpenAPI
// test compares against the document.
type Route struct {
	Method  string
	Path    string // ServeMux pattern path, e.g. /api/v1/projects/{id}
	Public  bool
	Handler httpapi.HandlerFunc
}

// Routes lists every endpoint of the native API.
func (a *API) Routes() []Route {
	return []Route{
		{Method: "GET", Path: "/api/v1/openapi.json", Public: true, Handler: a.openapi},
		{Method: "POST", Path: "/api/v1/sessions", Public: true, Handler: a.createSession},

		{Method: "GET", Path: "/api/v1/organisations", Handler: a.listOrganisations},
		{Method: "POST", Path: "/api/v1/organisations", Handler: a.createOrganisation},
		{Method: "GET", Path: "/api/v1/organisations/{id}", Handler: a.getOrganisation},
		{Method: "GET", Path: "/api/v1/organisations/{id}/members", Handler: a.listMembers(identity.ScopeOrganisation)},
		{Method: "POST", Path: "/api/v1/organisations/{id}/members", Handler: a.addMember(identity.ScopeOrganisation)},
		{Method: "DELETE", Path: "/api/v1/organisations/{id}/members/{user_id}", Handler: a.removeMember(identity.ScopeOrganisation)},

		{Method: "GET", Path: "/api/v1/projects", Handler: a.listProjects},
		{Method: "POST", Path: "/api/v1/projects", Handler: a.createProject},
		{Method: "GET", Path: "/api/v1/projects/{id}", Handler: a.getProject},
		{Method: "PATCH", Path: "/api/v1/projects/{id}", Handler: a.updateProject},
		{Method: "GET", Path: "/api/v1/projects/{id}/members", Handler: a.listMembers(identity.ScopeProject)},
		{Method: "POST", Path: "/api/v1/projects/{id}/members", Handler: a.addMember(identity.ScopeProject)},
		{Method: "DELETE", Path: "/api/v1/projects/{id}/members/{user_id}", Handler: a.removeMember(identity.ScopeProject)},

		{Method: "POST", Path: "/api/v1/users", Handler: a.createUser},
		{Method: "GET", Path: "/api/v1/users/me", Handler: a.getSelf},
		{Method: "POST", Path: "/api/v1/users/me/password", Handler: a.changePassword},

		{Method: "GET", Path: "/api/v1/tokens", Handler: a.listTokens},
		{Method: "POST", Path: "/api/v1/tokens", Handler: a.createToken},
		{Method: "DELETE", Path: "/api/v1/tokens/{id}", Handler: a.revokeToken},

		{Method: "GET", Path: "/api/v1/jobs", Handler: a.listJobs},
		{Method: "GET", Path: "/api/v1/jobs/{id}", Handler: a.getJob},

		{Method: "GET", Path: "/api/v1/regions", Handler: a.listRegions},
		{Method: "GET", Path: "/api/v1/volume-types", Handler: a.listVolumeTypes},

		{Method: "GET", Path: "/api/v1/volumes", Handler: a.listVolumes},
		{Method: "POST", Path: "/api/v1/volumes", Handler: a.createVolume},
		{Method: "GET", Path: "/api/v1/volumes/{id}", Handler: a.getVolume},
		{Method: "PATCH", Path: "/api/v1/volumes/{id}", Handler: a.updateVolume},
		{Method: "DELETE", Path: "/api/v1/volumes/{id}", Handler: a.deleteVolume},
		{Method: "POST", Path: "/api/v1/volumes/{id}/extend", Handler: a.extendVolume},
		{Method: "POST", Path: "/api/v1/volumes/{id}/retype", Handler: a.retypeVolume},
		{Method: "POST", Path: "/api/v1/volumes/{id}/clone", Handler: a.cloneVolume},
		{Method: "POST", Path: "/api/v1/volumes/{id}/snapshots", Handler: a.createSnapshot},
		{Method: "POST", Path: "/api/v1/volumes/{id}/attach", Handler: a.attachVolume},
		{Method: "POST", Path: "/api/v1/volumes/{id}/detach", Handler: a.detachVolume},
		{Method: "POST", Path: "/api/v1/volumes/{id}/revert", Handler: a.revertVolume},
		{Method: "POST", Path: "/api/v1/volumes/{id}/export", Handler: a.exportVolume},
		{Method: "POST", Path: "/api/v1/volumes/{id}/backups", Handler: a.backupVolume},
		{Method: "GET", Path: "/api/v1/volumes/{id}/backup-policy", Handler: a.getBackupPolicy},
		{Method: "PUT", Path: "/api/v1/volumes/{id}/backup-policy", Handler: a.setBackupPolicy},
		{Method: "DELETE", Path: "/api/v1/volumes/{id}/backup-policy", Handler: a.deleteBackupPolicy},
		{Method: "GET", Path: "/api/v1/backups", Handler: a.listBackups},
		{Method: "DELETE", Path: "/api/v1/backups/{backup_id}", Handler: a.deleteBackup},

		{Method: "GET", Path: "/api/v1/snapshots", Handler: a.listSnapshots},
		{Method: "GET", Path: "/api/v1/snapshots/{id}", Handler: a.getSnapshot},
		{Method: "PATCH", Path: "/api/v1/snapshots/{id}", Handler: a.updateSnapshot},
		{Method: "DELETE", Path: "/api/v1/snapshots/{id}", Handler: a.deleteSnapshot},
		{Method: "POST", Path: "/api/v1/snapshots/{id}/restore", Handler: a.restoreSnapshot},
		{Method: "GET", Path: "/api/v1/snapshots/{id}/exports", Handler: a.listSnapshotExports},
		{Method: "POST", Path: "/api/v1/snapshots/{id}/exports", Handler: a.exportSnapshot},
		{Method: "DELETE", Path: "/api/v1/snapshots/{id}/exports/{export_id}", Handler: a.unexportSnapshot},

		{Method: "GET", Path: "/api/v1/instances", Handler: a.listInstances},
		{Method: "POST", Path: "/api/v1/instances", Handler: a.createInstance},
		{Method: "GET", Path: "/api/v1/instances/{id}", Handler: a.getInstance},
		{Method: "PATCH", Path: "/api/v1/instances/{id}", Handler: a.updateInstance},
		{Method: "DELETE", Path: "/api/v1/instances/{id}", Handler: a.deleteInstance},

		{Method: "GET", Path: "/api/v1/projects/{id}/quotas", Handler: a.getQuota},
		{Method: "PUT", Path: "/api/v1/projects/{id}/quotas", Handler: a.setQuota},

		{Method: "GET", Path: "/api/v1/events", Handler: a.listEvents},
		{Method: "GET", Path: "/api/v1/offerings", Handler: a.listOfferings},
		{Method: "POST", Path: "/api/v1/offerings", Handler: a.createOffering},
		{Method: "GET", Path: "/api/v1/offerings/{id}", Handler: a.getOffering},
		{Method: "PATCH", Path: "/api/v1/offerings/{id}", Handler: a.updateOffering},
		{Method: "GET", Path: "/api/v1/offerings/{id}/plans", Handler: a.listPlans},
		{Method: "POST", Path: "/api/v1/offerings/{id}/plans", Handler: a.createPlan},
		{Method: "GET", Path: "/api/v1/orders", Handler: a.listOrders},
		{Method: "POST", Path: "/api/v1/orders", Handler: a.createOrder},
		{Method: "GET", Path: "/api/v1/orders/{id}", Handler: a.getOrder},
		{Method: "POST", Path: "/api/v1/orders/{id}/{action}", Handler: a.orderAction},
		{Method: "GET", Path: "/api/v1/resources", Handler: a.listResources},
		{Method: "GET", Path: "/api/v1/resources/{id}", Handler: a.getResource},

		{Method: "GET", Path: "/api/v1/projects/{id}/buckets", Handler: a.listBuckets},
		{Method: "POST", Path: "/api/v1/projects/{id}/buckets", Handler: a.createBucket},
		{Method: "GET", Path: "/api/v1/projects/{id}/buckets/{name}", Handler: a.getBucket},
		{Method: "PATCH", Path: "/api/v1/projects/{id}/buckets/{name}", Handler: a.updateBucket},
		{Method: "DELETE", Path: "/api/v1/projects/{id}/buckets/{name}", Handler: a.deleteBucket},
		{Method: "GET", Path: "/api/v1/projects/{id}/credentials", Handler: a.listCredentials},
		{Method: "POST", Path: "/api/v1/projects/{id}/credentials", Handler: a.createCredential},
		{Method: "DELETE", Path: "/api/v1/projects/{id}/credentials/{key}", Handler: a.revokeCredential},
		{Method: "GET", Path: "/api/v1/projects/{id}/notification-targets", Handler: a.listTargets},
		{Method: "POST", Path: "/api/v1/projects/{id}/notification-targets", Handler: a.createTarget},
		{Method: "DELETE", Path: "/api/v1/projects/{id}/notification-targets/{name}", Handler: a.deleteTarget},
		{Method: "GET", Path: "/api/v1/object-storage", Handler: a.listServices},
		{Method: "GET", Path: "/api/v1/object-storage/{id}", Handler: a.getService},
		{Method: "GET", Path: "/api/v1/object-storage/{id}/credentials", Handler: a.serviceCredentials},
		{Method: "GET", Path: "/api/v1/projects/{id}/kms-keys", Handler: a.listKMSKeys},
		{Method: "POST", Path: "/api/v1/projects/{id}/kms-keys", Handler: a.createKMSKey},
		{Method: "GET", Path: "/api/v1/projects/{id}/kms-keys/{key_id}", Handler: a.getKMSKey},
		{Method: "POST", Path: "/api/v1/projects/{id}/kms-keys/{key_id}/{action}", Handler: a.kmsAction},

		{Method: "GET", Path: "/api/v1/usage", Handler: a.getUsage},
		{Method: "GET", Path: "/api/v1/projects/{id}/costs", Handler: a.getCosts},
		{Method: "GET", Path: "/api/v1/organisations/{id}/invoices/{month}", Handler: a.getInvoice},

		{Method: "GET", Path: "/api/v1/admin/pools", Handler: a.getPools},
		{Method: "POST", Path: "/api/v1/admin/pools/block/fsck", Handler: a.fsckBlockPool},
		{Method: "POST", Path: "/api/v1/admin/pools/object/gc", Handler: a.collectObjectGarbage},

		{Method: "GET", Path: "/api/v1/nodes", Handler: a.listNodes},
	}
}

// Register mounts every route on mux, plus a problem+json 404 for unknown
// paths under /api/v1/.
func (a *API) Register(mux httpapi.Mux) {
	for _, rt := range a.Routes() {
		h := a.surface.Private(rt.Handler)
		if rt.Public {
			h = a.surface.Public(rt.Handler)
		}
		mux.Handle(rt.Method+" "+rt.Path, h)
	}
	mux.Handle("/api/v1/", a.surface.Public(func(w http.ResponseWriter, r *http.Request) error {
		return errNoRoute
	}))
}

func (a *API) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openapiDoc)
	return err
}

// list is the envelope of every list response.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func writeList[S, T any](w http.ResponseWriter, res page.Result[S], conv func(S) T) error {
	out := list[T]{Items: make([]T, 0, len(res.Items)), NextCursor: res.Next}
	for _, v := range res.Items {
		out.Items = append(out.Items, conv(v))
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

func (a *API) decode(r *http.Request, dst any) error {
	return httpapi.DecodeJSON(r, a.maxBody, dst, true)
}

func timePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
