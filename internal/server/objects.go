package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/core/objectstorage"
	"github.com/stowage/stowage/internal/objectstore"
	"github.com/stowage/stowage/internal/s3"
)

// objectPlane builds the object store, collects blobs a crash orphaned,
// and assembles the S3 handler with the object-storage rules as its quota.
func (s *Server) objectPlane(ctx context.Context) error {
	var err error
	if s.blobs, err = objectstore.New(filepath.Join(s.cfg.DataDir, "objects"),
		objectstore.Options{Logger: s.log.With("component", "objectstore"), Reserve: s.cfg.ReserveBytes}); err != nil {
		return fmt.Errorf("object store: %w", err)
	}
	// A blob written but never committed (a crash between rename and the
	// metadata transaction) is older than this start; live writes are not.
	n, err := s.blobs.GC(ctx, time.Now(), s.store.LiveBlobs)
	if err != nil {
		return fmt.Errorf("collect orphan blobs: %w", err)
	}
	if n > 0 {
		s.log.Info("removed orphan blobs", "count", n)
	}
	s.objects = objectstorage.NewManager(s.store, s.identity, s.sealer, s.cfg.Region)
	s.market.SetProvisioner(marketplace.KindObjectStorage, s.objects.Provisioner())
	h, err := s3.New(s3.Options{
		Meta: s.store, Blobs: s.blobs, Credentials: s3.NewSealedCredentials(s.store, s.sealer), Quota: s.objects, Keys: s.sealer,
		Logger: s.log.With("component", "s3"), Registry: s.registry, Region: s.cfg.Region, Domain: s.cfg.S3Domain,
		NoSigV2: !s.cfg.S3SigV2, ConsoleOrigin: s.consoleOrigin, Meter: s.counters, LifecycleDay: s.cfg.S3LifecycleDay,
	})
	if err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	s.s3h = h
	s.s3 = &http.Server{Handler: h, ReadHeaderTimeout: s.cfg.HeaderTimeout, IdleTimeout: s.cfg.IdleTimeout,
		MaxHeaderBytes: s.cfg.MaxHeaderBytes, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	return nil
}

// s3Endpoint is the URL S3 clients reach this node at.
func (s *Server) s3Endpoint() string { return s.scheme() + "://" + s.addrs.S3 }

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
