package server

import (
	"context"

	"github.com/stowage/stowage/internal/core/metering"
	"github.com/stowage/stowage/internal/core/volume"
)

// meteringService builds the usage meter over the store, the volume data
// planes (for allocated bytes) and the catalog's prices.
func (s *Server) meteringService() {
	s.metering = metering.NewService(s.store, volumeMeasurer{s.volumes}, s.counters, s.market, s.identity, metering.Options{
		Interval: s.cfg.MeterInterval, FlushInterval: s.cfg.MeterFlush, Retention: s.cfg.MeterRetention,
		Currency: s.cfg.BillingCurrency, Logger: s.log.With("component", "metering"),
	})
}

// volumeMeasurer asks a volume's data plane what its data holds: the
// allocated bytes of a block volume, the file bytes of a filesystem.
type volumeMeasurer struct{ vols *volume.Service }

func (m volumeMeasurer) Measure(ctx context.Context, r *metering.Resource) {
	if r.Type != metering.TypeVolume {
		return
	}
	allocated, _ := m.vols.Allocation(ctx, volume.Volume{ID: r.ID, BackendID: r.BackendID, Type: r.VolumeType})
	comp := metering.VolumeAllocated
	if t, err := m.vols.Catalog().Type(r.VolumeType); err == nil && t.Kind == volume.KindFilesystem {
		comp = metering.FilesystemBytes
	}
	r.Levels[comp] = allocated
}
