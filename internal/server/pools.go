package server

import (
	"context"
	"path/filepath"
	"time"

	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/core/pool"
	"github.com/stowage/stowage/internal/diskspace"
	"github.com/stowage/stowage/internal/store/sqlstore"
)

// pools builds the operator's view of this node's engines.
func (s *Server) pools() *pool.Service {
	return pool.NewService(s.blockPool(),
		objectPool{blobs: s.bodies, store: s.store, dir: filepath.Join(s.cfg.DataDir, "objects")})
}

// blockPool is where block volumes live: Ceph, or the local thin pool.
func (s *Server) blockPool() pool.Block {
	if s.ceph != nil {
		return s.ceph
	}
	return blockPool{p: s.pool, dir: filepath.Join(s.cfg.DataDir, "blocks")}
}

// blockPool adapts the thin pool to pool.Block.
type blockPool struct {
	p   *blockstore.Pool
	dir string
}

func (b blockPool) Stats(ctx context.Context) (pool.BlockStats, error) {
	st, err := b.p.PoolStat(ctx)
	if err != nil {
		return pool.BlockStats{}, err
	}
	return pool.BlockStats{Space: space(b.dir), ChunkSize: st.ChunkSize, Volumes: int64(st.Volumes), Chunks: st.Chunks,
		Pages: st.Pages, UsedBytes: st.UsedBytes, DiskBytes: st.DiskBytes}, nil
}

func (b blockPool) Fsck(ctx context.Context) (pool.FsckReport, error) {
	r, err := b.p.Fsck(ctx)
	return pool.FsckReport{Volumes: r.Volumes, Pages: r.Pages, Chunks: r.Chunks, Problems: r.Problems}, err
}

// objectPool adapts the blob store and the bucket counters to
// pool.Objects.
type objectPool struct {
	blobs objectBodies
	store *sqlstore.Store
	dir   string
}

func (o objectPool) Stats(ctx context.Context) (pool.ObjectStats, error) {
	buckets, objects, bytes, err := o.store.BucketTotals(ctx)
	if err != nil {
		return pool.ObjectStats{}, err
	}
	inlineObjects, inlineBytes, err := o.store.InlineTotals(ctx)
	if err != nil {
		return pool.ObjectStats{}, err
	}
	u, err := o.blobs.Usage(ctx)
	if err != nil {
		return pool.ObjectStats{}, err
	}
	return pool.ObjectStats{Space: space(o.dir), Buckets: buckets, Objects: objects, ObjectBytes: bytes,
		Blobs: u.Blobs, BlobBytes: u.Bytes, InlineObjects: inlineObjects, InlineBytes: inlineBytes}, nil
}

func (o objectPool) CollectOrphans(ctx context.Context, cutoff time.Time) (int, error) {
	return o.blobs.CollectOrphans(ctx, cutoff)
}

// space reports the file system under dir; it is zero when the system
// cannot say, which the operator sees as unknown rather than as an error.
func space(dir string) pool.Space {
	capacity, free, err := diskspace.Of(dir)
	if err != nil {
		return pool.Space{}
	}
	return pool.Space{CapacityBytes: capacity, FreeBytes: free}
}
