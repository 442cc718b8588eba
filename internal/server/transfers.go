package server

import (
	"context"
	"strings"

	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/s3"
)

// enableTransfers gives the volume service images and backups: bucket
// objects through the S3 handler as the volume's project, and the block
// backend's handles and diffs (the thin pool's maps, or RBD's object
// maps on a Ceph node).
func (s *Server) enableTransfers() {
	h, ok := s.s3.Handler.(*s3.Handler)
	if !ok {
		return
	}
	var blocks volume.BlockIO = poolBlockIO{s.pool}
	if s.cfg.Ceph != "" {
		if blocks = s.cephBlockIO(); blocks == nil {
			return
		}
	}
	s.volumes.UseTransfers(volume.Transfers{Buckets: bucketIO{h: h, partSize: s.cfg.TransferPartSize}, Blocks: blocks, Keys: s.sealer})
	for _, reg := range s.volumes.TransferRegistrations() {
		s.runner.Register(reg)
	}
}

// poolBlockIO is the thin pool as transfers use it.
type poolBlockIO struct{ p *blockstore.Pool }

func (b poolBlockIO) Open(ctx context.Context, id string) (volume.VolumeIO, error) {
	v, err := b.p.Volume(ctx, id)
	if err != nil {
		return nil, err
	}
	return poolVolume{v}, nil
}

func (b poolBlockIO) Changed(ctx context.Context, from, to string) ([]int64, error) {
	return b.p.Changed(ctx, from, to)
}

func (b poolBlockIO) ChunkSize() int64 { return b.p.ChunkSize() }

func (b poolBlockIO) List(ctx context.Context, prefix string) ([]string, error) {
	all, err := b.p.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range all {
		if strings.HasPrefix(id, prefix) {
			out = append(out, id)
		}
	}
	return out, nil
}
