//go:build ceph

package server

import (
	"context"
	"fmt"
	"io"

	"github.com/stowage/stowage/internal/cephfs"
	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/core/pool"

	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/nfs"
	"github.com/stowage/stowage/internal/rbd"
)

// cephBuilt: this binary has Ceph support.
func cephBuilt(config.Config) error { return nil }

// openCeph connects to the RBD pool that holds this node's block volumes.
func (s *Server) openCeph(ctx context.Context) (volume.Backend, blockData, error) {
	st, err := rbd.Open(ctx, rbd.Options{Conf: s.cfg.Ceph, User: s.cfg.CephUser, Pool: s.cfg.RBDPool})
	if err != nil {
		return nil, nil, fmt.Errorf("volume pool: %w", err)
	}
	s.ceph = rbdPool{st}
	s.log.Info("block volumes on Ceph RBD", "ceph_conf", s.cfg.Ceph, "user", s.cfg.CephUser, "pool", s.cfg.RBDPool)
	return rbdBackend{st}, rbdData{st}, nil
}

// rbdBackend is the RBD store as the volume core's backend; uploads
// stream into the image through librbd.
type rbdBackend struct{ *rbd.Store }

func (b rbdBackend) Write(ctx context.Context, id string, off int64, r io.Reader) (int64, error) {
	v, err := b.Volume(ctx, id)
	if err != nil {
		return 0, err
	}
	defer v.Close()
	return streamInto(ctx, v, off, r)
}

// An RBD image's exports start reads and writes from the NBD request loop
// (see withFastPaths).
var _ asyncVolume = (*rbd.Volume)(nil)

// rbdData opens RBD images (and snapshots) for NBD exports.
type rbdData struct{ st *rbd.Store }

func (d rbdData) Volume(ctx context.Context, id string) (blockVolume, error) {
	v, err := d.st.Volume(ctx, id)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// cephBlockIO is the RBD store as transfers use it, once openCeph ran.
func (s *Server) cephBlockIO() volume.BlockIO {
	p, ok := s.ceph.(rbdPool)
	if !ok {
		return nil
	}
	return rbdBlockIO{p.Store}
}

// rbdBlockIO is the RBD store as transfers use it: images and snapshots,
// and fast-diff between snapshots, in objects.
type rbdBlockIO struct{ *rbd.Store }

func (b rbdBlockIO) Open(ctx context.Context, id string) (volume.VolumeIO, error) {
	v, err := b.Volume(ctx, id)
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (b rbdBlockIO) ChunkSize() int64 { return b.ObjectSize() }

// rbdPool is the RBD pool as the operator sees it (stowage admin pools).
type rbdPool struct{ *rbd.Store }

func (p rbdPool) Stats(ctx context.Context) (pool.BlockStats, error) {
	st, err := p.PoolStats(ctx)
	if err != nil {
		return pool.BlockStats{}, err
	}
	return pool.BlockStats{Space: pool.Space{CapacityBytes: st.CapacityBytes, FreeBytes: st.FreeBytes},
		ChunkSize: st.ObjectSize, Volumes: st.Images + st.Snapshots, Chunks: st.UsedBytes / st.ObjectSize,
		UsedBytes: st.UsedBytes}, nil
}

func (p rbdPool) Fsck(ctx context.Context) (pool.FsckReport, error) {
	images, problems, err := p.Check(ctx)
	return pool.FsckReport{Volumes: images, Problems: problems}, err
}

// openCephFS opens the CephFS file system that holds filesystem volumes.
func (s *Server) openCephFS(ctx context.Context) (fileVolumes, error) {
	st, err := cephfs.Open(ctx, cephfs.Options{Conf: s.cfg.Ceph, User: s.cfg.CephUser, FS: s.cfg.CephFS})
	if err != nil {
		return nil, err
	}
	s.log.Info("filesystem volumes on CephFS", "ceph_conf", s.cfg.Ceph, "user", s.cfg.CephUser, "fs", s.cfg.CephFS)
	return cephFiles{st}, nil
}

// cephFiles keeps filesystem volumes on CephFS.
type cephFiles struct{ *cephfs.Store }

func (c cephFiles) Open(ctx context.Context, id string) (nfs.FS, error) {
	v, err := c.Volume(ctx, id)
	if err != nil {
		return nil, err
	}
	return v, nil
}
