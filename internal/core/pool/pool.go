// Package pool owns the operator's view of the node's storage engines: how
// full the block pool and the object store are, a consistency check of the
// block pool, and the collection of object blobs nothing refers to. All of
// it is for staff with a token not bound to a project. It knows neither
// HTTP nor the engines' internals: the server adapts them to Block and
// Objects.
package pool

import (
	"context"
	"fmt"
	"time"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/errs"
)

// Space is the file system a pool lives on.
type Space struct {
	CapacityBytes int64
	FreeBytes     int64
}

// BlockStats is the volume pool's use.
type BlockStats struct {
	Space
	ChunkSize int64
	Volumes   int64 // volumes, snapshots and clones
	Chunks    int64 // data chunks referenced by at least one volume
	Pages     int64 // map pages
	UsedBytes int64 // Chunks * ChunkSize
	DiskBytes int64 // what the data file occupies on disk
}

// ObjectStats is the object store's use.
type ObjectStats struct {
	Space
	Buckets     int64
	Objects     int64
	ObjectBytes int64 // what the buckets' counters say clients stored
	// Blobs and BlobBytes count files in the blob store: objects, parts of
	// unfinished multipart uploads, and orphans a GC would remove. With
	// bodies in RADOS they are the pool's objects (one per 4 MiB stripe)
	// and bytes, as Ceph's mgr reports them.
	Blobs     int64
	BlobBytes int64
	// InlineObjects and InlineBytes are the small objects kept in the
	// metadata database rather than as blobs (part of Objects).
	InlineObjects int64
	InlineBytes   int64
}

// Stats is every pool of the node.
type Stats struct {
	Block  BlockStats
	Object ObjectStats
}

// FsckReport is what a block pool check found; a clean pool has no
// Problems.
type FsckReport struct {
	Volumes, Pages, Chunks int
	Problems               []string
}

// GCReport is what an orphan collection removed.
type GCReport struct {
	Removed int
	// Cutoff is the age limit used: only files last written before it were
	// candidates.
	Cutoff time.Time
}

// Block is the volume pool as the operator sees it.
type Block interface {
	Stats(ctx context.Context) (BlockStats, error)
	Fsck(ctx context.Context) (FsckReport, error)
}

// Objects is the object store as the operator sees it.
type Objects interface {
	Stats(ctx context.Context) (ObjectStats, error)
	// CollectOrphans removes temp files and blobs no object or part refers
	// to that were last written before cutoff.
	CollectOrphans(ctx context.Context, cutoff time.Time) (removed int, err error)
}

// DefaultMinAge is how old an unreferenced blob must be before a GC run
// removes it, unless the operator says otherwise.
const DefaultMinAge = time.Hour

// MinAge is the smallest age a GC run accepts. A blob is renamed into place
// a moment before the transaction that records it commits; a younger blob
// may belong to a write in flight.
const MinAge = time.Minute

// Service answers the operator's questions about the pools.
type Service struct {
	block   Block
	objects Objects
	now     func() time.Time
}

// NewService returns a service over the node's engines.
func NewService(b Block, o Objects) *Service {
	return &Service{block: b, objects: o, now: time.Now}
}

func staffOnly(p identity.Principal, what string) error {
	if !p.User.Staff || p.BoundProject != "" {
		return errs.E(errs.Permission, "only staff may %s", what)
	}
	return nil
}

// Stats reports every pool's use.
func (s *Service) Stats(ctx context.Context, p identity.Principal) (Stats, error) {
	if err := staffOnly(p, "see the storage pools"); err != nil {
		return Stats{}, err
	}
	b, err := s.block.Stats(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("block pool stats: %w", err)
	}
	o, err := s.objects.Stats(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("object store stats: %w", err)
	}
	return Stats{Block: b, Object: o}, nil
}

// FsckBlock checks the block pool's reference counts against its maps. It
// pauses volume I/O while it walks them.
func (s *Service) FsckBlock(ctx context.Context, p identity.Principal) (FsckReport, error) {
	if err := staffOnly(p, "check the block pool"); err != nil {
		return FsckReport{}, err
	}
	r, err := s.block.Fsck(ctx)
	if err != nil {
		return FsckReport{}, fmt.Errorf("block pool fsck: %w", err)
	}
	return r, nil
}

// CollectGarbage removes object blobs nothing refers to that are older than
// minAge (DefaultMinAge when zero).
func (s *Service) CollectGarbage(ctx context.Context, p identity.Principal, minAge time.Duration) (GCReport, error) {
	if err := staffOnly(p, "collect garbage"); err != nil {
		return GCReport{}, err
	}
	if minAge == 0 {
		minAge = DefaultMinAge
	}
	if minAge < MinAge {
		return GCReport{}, errs.Field("min_age_seconds", "min_age_seconds must be at least %d: younger blobs may belong to writes in flight", int(MinAge.Seconds()))
	}
	cutoff := s.now().Add(-minAge)
	n, err := s.objects.CollectOrphans(ctx, cutoff)
	if err != nil {
		return GCReport{Removed: n, Cutoff: cutoff}, fmt.Errorf("collect orphan blobs: %w", err)
	}
	return GCReport{Removed: n, Cutoff: cutoff}, nil
}
