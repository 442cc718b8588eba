//go:build ceph

package server

import (
	"context"
	"fmt"
	"time"

	"github.com/stowage/stowage/internal/objectstore"
	"github.com/stowage/stowage/internal/rados"
)

// openRADOS connects to the RADOS pool that holds object bodies; the
// metadata store records its intents.
func (s *Server) openRADOS(ctx context.Context) (objectBodies, error) {
	st, err := rados.Open(ctx, rados.Options{Conf: s.cfg.Ceph, User: s.cfg.CephUser, Pool: s.cfg.RADOSPool,
		Intents: s.store, Logger: s.log.With("component", "rados")})
	if err != nil {
		return nil, err
	}
	s.log.Info("object bodies on Ceph RADOS", "ceph_conf", s.cfg.Ceph, "user", s.cfg.CephUser, "pool", s.cfg.RADOSPool)
	return radosBodies{st, s}, nil
}

// radosBodies is the RADOS store as the server uses it.
type radosBodies struct {
	*rados.Store
	s *Server
}

// Usage reports the pool's RADOS objects (a blob is one per 4 MiB stripe)
// and bytes, as Ceph counts them.
func (r radosBodies) Usage(context.Context) (objectstore.Usage, error) {
	st, err := r.PoolStats()
	if err != nil {
		return objectstore.Usage{}, err
	}
	return objectstore.Usage{Blobs: st.Objects, Bytes: st.Bytes}, nil
}

// CollectOrphans sweeps the intents older than cutoff: the pool is never
// listed.
func (r radosBodies) CollectOrphans(ctx context.Context, cutoff time.Time) (int, error) {
	swept, err := objectstore.Sweep(ctx, r.s.store, r.Store, cutoff)
	if err != nil {
		return swept.Intents, fmt.Errorf("sweep intents: %w", err)
	}
	return swept.Intents, nil
}
