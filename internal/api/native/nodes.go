package native

import (
	"context"
	"net/http"
	"time"

	"github.com/stowage/stowage/internal/core/cluster"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/httpapi"
)

// NodeLister lists the nodes serving the database, to staff.
type NodeLister func(ctx context.Context, p identity.Principal) ([]cluster.Status, error)

// WithNodes adds the node registry; the route is in the table either way.
func (a *API) WithNodes(l NodeLister) *API {
	a.nodes = l
	return a
}

type nodeJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	API       string    `json:"api_address"`
	S3        string    `json:"s3_address"`
	NBD       string    `json:"nbd_address"`
	NFS       string    `json:"nfs_address"`
	Version   string    `json:"version"`
	Started   time.Time `json:"started_at"`
	Heartbeat time.Time `json:"heartbeat_at"`
	Healthy   bool      `json:"healthy"`
	Self      bool      `json:"self"`
}

func (a *API) listNodes(w http.ResponseWriter, r *http.Request) error {
	ns, err := a.nodes(r.Context(), httpapi.Principal(r.Context()))
	if err != nil {
		return err
	}
	items := make([]nodeJSON, len(ns))
	for i, n := range ns {
		items[i] = nodeJSON{ID: n.ID, Name: n.Name, API: n.API, S3: n.S3, NBD: n.NBD, NFS: n.NFS, Version: n.Version,
			Started: n.Started, Heartbeat: n.Heartbeat, Healthy: n.Healthy, Self: n.Self}
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"items": items})
}
