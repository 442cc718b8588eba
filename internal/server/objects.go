package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/stowage/stowage/internal/core/kms"
	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/core/objectstorage"
	"github.com/stowage/stowage/internal/objectstore"
	"github.com/stowage/stowage/internal/s3"
	"github.com/stowage/stowage/internal/store/sqlstore"
)

// objectBodies is where object bytes live: files under the data dir, or a
// RADOS pool with --ceph.
type objectBodies interface {
	s3.Blobs
	// Usage counts what the store holds, for operators.
	Usage(ctx context.Context) (objectstore.Usage, error)
	// CollectOrphans removes bytes no metadata names that a crash left
	// before cutoff.
	CollectOrphans(ctx context.Context, cutoff time.Time) (int, error)
	Close() error
}

// objectPlane builds the object store, collects blobs a crash orphaned,
// and assembles the S3 handler with the object-storage rules as its quota.
func (s *Server) objectPlane(ctx context.Context) error {
	if s.cfg.Ceph != "" {
		b, err := s.openRADOS(ctx)
		if err != nil {
			return fmt.Errorf("object store: %w", err)
		}
		s.bodies = b
	} else {
		blobs, err := objectstore.New(filepath.Join(s.cfg.DataDir, "objects"),
			objectstore.Options{Logger: s.log.With("component", "objectstore"), Reserve: s.cfg.ReserveBytes})
		if err != nil {
			return fmt.Errorf("object store: %w", err)
		}
		s.bodies = localBodies{blobs, s.store}
		// A blob written but never committed (a crash between rename and
		// the metadata transaction) is older than this start; live writes
		// are not. RADOS has no such walk: its stale intents are swept.
		n, err := s.bodies.CollectOrphans(ctx, time.Now())
		if err != nil {
			return fmt.Errorf("collect orphan blobs: %w", err)
		}
		if n > 0 {
			s.log.Info("removed orphan blobs", "count", n)
		}
	}
	s.objects = objectstorage.NewManager(s.store, s.identity, s.sealer, s.cfg.Region)
	s.kms = kms.NewService(s.store, s.identity, s.sealer, s.cfg.Region)
	s.market.SetProvisioner(marketplace.KindObjectStorage, s.objects.Provisioner())
	h, err := s3.New(s3.Options{
		Meta: s.store, Blobs: s.bodies, Credentials: s3.NewSealedCredentials(s.store, s.sealer), Quota: s.objects, Keys: s.sealer, KMS: s.kms,
		Logger: s.log.With("component", "s3"), Registry: s.registry, Region: s.cfg.Region, Domain: s.cfg.S3Domain,
		NoSigV2: !s.cfg.S3SigV2, ConsoleOrigin: s.consoleOrigin, Meter: s.counters, LifecycleDay: s.cfg.S3LifecycleDay,
		Destinations: s.notify,
	})
	if err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	s.s3h = h
	s.s3 = &http.Server{Handler: h, ReadHeaderTimeout: s.cfg.HeaderTimeout, IdleTimeout: s.cfg.IdleTimeout,
		MaxHeaderBytes: s.cfg.MaxHeaderBytes, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	return nil
}

// localBodies is the file store with the metadata that says which blobs
// are live.
type localBodies struct {
	*objectstore.Store
	meta *sqlstore.Store
}

func (l localBodies) CollectOrphans(ctx context.Context, cutoff time.Time) (int, error) {
	return l.GC(ctx, cutoff, l.meta.LiveBlobs)
}

// Keys whose deletion window ended are destroyed this often.
const kmsDestroyInterval = time.Minute

// Blob garbage is swept this often; an intent is stale after intentAge (a
// PUT still streaming renews its intent well within it).
const (
	sweepInterval = time.Minute
	intentAge     = time.Hour
)

// sweepBlobs carries out the removals queued by committed deletes (which
// a crash between commit and removal left) and, on RADOS, removes what
// stale intents name, until ctx ends.
func (s *Server) sweepBlobs(ctx context.Context) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		swept, err := objectstore.Sweep(ctx, s.store, s.bodies, time.Now().Add(-intentAge))
		if err != nil && ctx.Err() == nil {
			s.log.Warn("sweep blobs", "err", err)
		}
		if swept.Intents > 0 {
			s.log.Info("swept stale blob intents", "intents", swept.Intents, "rados_objects", swept.Objects)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// s3Endpoint is the URL S3 clients reach this node at.
func (s *Server) s3Endpoint() string {
	return s.scheme() + "://" + advertised(s.cfg.AdvertiseS3, s.addrs.S3)
}

// runLifecycle applies the buckets' lifecycle rules in passes, a quarter
// of a lifecycle day apart (at most an hour), until ctx ends. Every node
// runs them; a pass is idempotent, so overlapping ones only repeat reads.
func (s *Server) runLifecycle(ctx context.Context) {
	every := min(s.cfg.S3LifecycleDay/4, time.Hour)
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := s.s3h.RunLifecycle(ctx, s.store)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("s3 lifecycle pass failed", "err", err)
		}
		if st != (s3.LifecycleStats{}) {
			s.log.Info("s3 lifecycle pass", "expired", st.Expired, "versions", st.Versions, "markers", st.Markers, "uploads", st.Uploads)
		}
	}
}
