// Package metering owns usage: what each project's resources held and
// moved, hour by hour, exactly. A sampler records the levels resources hold
// (volume bytes provisioned and allocated, snapshot exclusive bytes, bucket
// object bytes and count, filesystem bytes) as intervals of constant level,
// so usage integrates exactly whatever the sample interval; counters the
// data planes bump in memory (S3 requests and bytes, NBD and NFS bytes) are
// flushed into hourly rows periodically and on shutdown. Rows older than a
// retention fold into one row per UTC day. Reports, costs and invoices are
// computed from those rows with exact rational arithmetic.
package metering

import (
	"context"
	"math/big"
	"time"
)

// Resource types.
const (
	TypeVolume   = "volume"
	TypeSnapshot = "snapshot"
	TypeBucket   = "bucket"
)

// Components: levels (integrated over time) and counters (summed).
const (
	VolumeProvisioned = "volume_provisioned"
	VolumeAllocated   = "volume_allocated"
	FilesystemBytes   = "filesystem_bytes"
	SnapshotBytes     = "snapshot_bytes"
	ObjectBytes       = "object_bytes"
	ObjectCount       = "object_count"

	S3Get      = "s3_get_requests"
	S3Put      = "s3_put_requests"
	S3List     = "s3_list_requests"
	S3Delete   = "s3_delete_requests"
	S3BytesIn  = "s3_bytes_in"
	S3BytesOut = "s3_bytes_out"
	NBDRead    = "nbd_bytes_read"
	NBDWrite   = "nbd_bytes_written"
	NFSRead    = "nfs_bytes_read"
	NFSWrite   = "nfs_bytes_written"
)

const gib = 1 << 30

// Info describes a component as reports show it.
type Info struct {
	Component string `json:"component"`
	Name      string `json:"name"`
	// Level components hold an amount over time; usage is level × time.
	Level bool   `json:"level"`
	Unit  string `json:"unit"`
	// per is how many raw units (byte-seconds, object-seconds, requests,
	// bytes) make one Unit.
	per int64
}

// Components lists every metered component in report order.
func Components() []Info {
	return []Info{
		{VolumeProvisioned, "Volume storage provisioned", true, "GiB-hour", 3600 * gib},
		{VolumeAllocated, "Volume storage allocated", true, "GiB-hour", 3600 * gib},
		{FilesystemBytes, "Filesystem volume bytes", true, "GiB-hour", 3600 * gib},
		{SnapshotBytes, "Snapshot exclusive bytes", true, "GiB-hour", 3600 * gib},
		{ObjectBytes, "Object storage bytes", true, "GiB-hour", 3600 * gib},
		{ObjectCount, "Objects stored", true, "object-hour", 3600},
		{S3Get, "S3 GET requests", false, "request", 1},
		{S3Put, "S3 PUT requests", false, "request", 1},
		{S3List, "S3 LIST requests", false, "request", 1},
		{S3Delete, "S3 DELETE requests", false, "request", 1},
		{S3BytesIn, "S3 bytes in", false, "GiB", gib},
		{S3BytesOut, "S3 bytes out (egress)", false, "GiB", gib},
		{NBDRead, "NBD bytes read", false, "GiB", gib},
		{NBDWrite, "NBD bytes written", false, "GiB", gib},
		{NFSRead, "NFS bytes read", false, "GiB", gib},
		{NFSWrite, "NFS bytes written", false, "GiB", gib},
	}
}

// Lookup returns the description of a component.
func Lookup(component string) (Info, bool) {
	for _, c := range Components() {
		if c.Component == component {
			return c, true
		}
	}
	return Info{}, false
}

// Quantity converts a raw amount into the component's unit, exactly.
func (i Info) Quantity(raw *big.Int) *big.Rat {
	return new(big.Rat).SetFrac(raw, big.NewInt(i.per))
}

// Ref names a metered resource and who pays for it. ParentID is what a
// marketplace resource points at when it is not the resource itself: a
// bucket's object-storage service, a snapshot's volume.
type Ref struct {
	Type      string
	ID        string
	ProjectID string
	ParentID  string
}

// Key identifies one component of one resource.
type Key struct {
	Type, ID, Component string
}

// Resource is a live metered resource as the store knows it.
type Resource struct {
	Ref
	Created time.Time
	// Ended is when the resource's deletion was asked for, if it was.
	Ended time.Time
	// BackendID and VolumeType let a Measurer ask the data plane.
	BackendID  string
	VolumeType string
	// Levels the store holds (provisioned bytes, object bytes and count,
	// snapshot exclusive bytes).
	Levels map[string]int64
}

// Open is the level a component was last sampled at, and when.
type Open struct {
	Ref
	Component string
	Level     int64
	At        time.Time
	// Read is, in a sample's tick, the open level the sample started from
	// (nil: none). The store writes the new level and the component's rows
	// only if that is still the open one: a resize records its change in
	// its own transaction, and a sample that read before it must not count
	// over it (the next sample goes on from the resize).
	Read *Open
}

// Key of the open level.
func (o Open) Key() Key { return Key{o.Type, o.ID, o.Component} }

// Ended is a resource whose row is gone: its deletion time and the
// levels it held, so that a resource that lived and died between two
// samples is still counted.
type Ended struct {
	Ref
	Created time.Time
	Ended   time.Time
	Levels  map[string]int64
}

// Row is usage of one component of one resource over [From, To): Level
// held throughout (Level >= 0), or Amount in raw units (Level == -1).
type Row struct {
	Ref
	Component string
	From, To  time.Time
	Level     int64
	Amount    int64
}

// Raw is the row's usage in raw units within [from, to).
func (r Row) Raw(from, to time.Time) *big.Int {
	if r.Level < 0 {
		if r.From.Before(from) || !r.From.Before(to) {
			return new(big.Int)
		}
		return big.NewInt(r.Amount)
	}
	a, b := r.From, r.To
	if a.Before(from) {
		a = from
	}
	if b.After(to) {
		b = to
	}
	if !a.Before(b) {
		return new(big.Int)
	}
	secs := int64(b.Sub(a) / time.Second)
	return new(big.Int).Mul(big.NewInt(r.Level), big.NewInt(secs))
}

// Tick is what one sample writes, in one transaction.
type Tick struct {
	At time.Time
	// Rows are appended; a level row that continues the previous row of
	// its key at the same level extends it instead.
	Rows []Row
	// Levels replace the open levels of their keys; Closed are removed.
	Levels []Open
	Closed []Key
	// Ends consumed by this tick.
	Ends []Ref
}

// Filter selects usage rows.
type Filter struct {
	ProjectIDs []string // nil: every project
	ResourceID string   // matches a resource or its parent
	Component  string
	From, To   time.Time
}

// Store is what metering needs from persistence.
type Store interface {
	// MeterResources lists every live volume, snapshot and bucket, and
	// those that ended after since (with Ended set).
	MeterResources(ctx context.Context, since time.Time) ([]Resource, error)
	// MeterState returns the open levels, the meter's clock (the last
	// sample time; zero before the first) and its epoch (the first).
	MeterState(ctx context.Context) (levels []Open, clock, epoch time.Time, err error)
	MeterEnds(ctx context.Context) ([]Ended, error)
	ApplyMeterTick(ctx context.Context, t Tick) error
	// AddMeterCounts adds counter amounts to their hourly rows.
	AddMeterCounts(ctx context.Context, rows []Row) error
	// MeterRefs resolves bucket names (TypeBucket) or the IDs of volumes
	// and snapshots (TypeVolume) to the resources they name; unknown ones
	// are absent.
	MeterRefs(ctx context.Context, typ string, keys []string) (map[string]Ref, error)
	UsageRows(ctx context.Context, f Filter) ([]Row, error)
	// FoldUsage merges the rows of each resource, component and period
	// (an hour, a UTC day) that start after from and ended before cutoff
	// into one row; it returns the rows removed.
	FoldUsage(ctx context.Context, from, cutoff time.Time, period time.Duration) (int, error)
}

// Measurer asks the data plane for levels the store does not hold
// (allocated bytes of a block volume, bytes of a filesystem volume); it
// adds them to r.Levels.
type Measurer interface {
	Measure(ctx context.Context, r *Resource)
}
