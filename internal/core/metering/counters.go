package metering

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Counter slots of an S3 cell.
const (
	slotGet = iota
	slotPut
	slotList
	slotDelete
	slotIn
	slotOut
	s3Slots
)

var s3SlotComponents = [s3Slots]string{S3Get, S3Put, S3List, S3Delete, S3BytesIn, S3BytesOut}

// padded keeps each counter on its own cache line: cores counting
// different slots of one hot bucket do not bounce one line between them.
type padded struct {
	atomic.Int64
	_ [56]byte
}

type s3Cell struct{ n [s3Slots]padded }

// IOCell counts the bytes one volume's data plane moves; a data plane
// gets it once per connection or export and then adds with two atomics.
type IOCell struct{ read, written padded }

// CountIO adds bytes read and written.
func (c *IOCell) CountIO(read, written int64) {
	if read != 0 {
		c.read.Add(read)
	}
	if written != 0 {
		c.written.Add(written)
	}
}

// Counters accumulates data-plane counts in memory: a request costs a
// lock-free map load and one or three atomic adds, never a transaction.
// Flush moves the counts into the store. The number of keys is bounded,
// so requests naming buckets that do not exist cannot grow it without
// limit; keys the store does not know are dropped at each flush.
type Counters struct {
	s3      sync.Map // bucket name → *s3Cell
	block   sync.Map // volume ID → *IOCell
	files   sync.Map // volume ID → *IOCell
	keys    atomic.Int64
	maxKeys int64
	dropped atomic.Int64 // requests not counted because the map was full
}

// NewCounters bounds the distinct keys held between flushes.
func NewCounters(maxKeys int) *Counters {
	if maxKeys <= 0 {
		maxKeys = 100000
	}
	return &Counters{maxKeys: int64(maxKeys)}
}

// S3Class is the request class an S3 operation is billed as.
func S3Class(op string) string {
	return s3SlotComponents[s3Slot(op)]
}

func s3Slot(op string) int {
	switch {
	case strings.HasPrefix(op, "List"):
		return slotList
	case strings.HasPrefix(op, "Delete"), strings.HasPrefix(op, "Abort"):
		return slotDelete
	case strings.HasPrefix(op, "Put"), strings.HasPrefix(op, "Post"), strings.HasPrefix(op, "Copy"),
		strings.HasPrefix(op, "Create"), strings.HasPrefix(op, "Complete"), strings.HasPrefix(op, "Upload"):
		return slotPut
	}
	return slotGet
}

// S3Request counts one S3 request on bucket (op is the S3 operation name)
// and the body bytes it moved. Requests without a bucket (ListBuckets)
// belong to no resource and are not counted.
func (c *Counters) S3Request(bucket, op string, in, out int64) {
	if bucket == "" {
		return
	}
	v, ok := c.s3.Load(bucket)
	if !ok {
		if v, ok = c.add(&c.s3, bucket, func() any { return new(s3Cell) }); !ok {
			return
		}
	}
	cell := v.(*s3Cell)
	cell.n[s3Slot(op)].Add(1)
	if in > 0 {
		cell.n[slotIn].Add(in)
	}
	if out > 0 {
		cell.n[slotOut].Add(out)
	}
}

// Block returns the cell that counts NBD bytes of a volume.
func (c *Counters) Block(volumeID string) *IOCell { return c.ioCell(&c.block, volumeID) }

// Files returns the cell that counts NFS bytes of a volume.
func (c *Counters) Files(volumeID string) *IOCell { return c.ioCell(&c.files, volumeID) }

func (c *Counters) ioCell(m *sync.Map, id string) *IOCell {
	if v, ok := m.Load(id); ok {
		return v.(*IOCell)
	}
	v, ok := c.add(m, id, func() any { return new(IOCell) })
	if !ok {
		return new(IOCell) // counted nowhere: the map is full
	}
	return v.(*IOCell)
}

func (c *Counters) add(m *sync.Map, key string, mk func() any) (any, bool) {
	if c.keys.Load() >= c.maxKeys {
		c.dropped.Add(1)
		return nil, false
	}
	v, loaded := m.LoadOrStore(key, mk())
	if !loaded {
		c.keys.Add(1)
	}
	return v, true
}

// Flush writes the counts gathered since the last flush into the hourly
// rows of now's hour, in one transaction. On failure the counts go back
// into memory for the next flush. Keys the store does not know (deleted
// or never existing buckets and volumes) are forgotten with their counts.
func (c *Counters) Flush(ctx context.Context, st Store, now time.Time) error {
	hour := now.UTC().Truncate(time.Hour)
	type taken struct {
		key  string
		m    *sync.Map
		vals []int64
	}
	var all []taken
	var bucketNames, volumeIDs []string
	c.s3.Range(func(k, v any) bool {
		cell := v.(*s3Cell)
		t := taken{key: k.(string), m: &c.s3, vals: make([]int64, s3Slots)}
		nonzero := false
		for i := range cell.n {
			t.vals[i] = cell.n[i].Swap(0)
			nonzero = nonzero || t.vals[i] != 0
		}
		if nonzero {
			all = append(all, t)
			bucketNames = append(bucketNames, t.key)
		}
		return true
	})
	for _, m := range []*sync.Map{&c.block, &c.files} {
		m.Range(func(k, v any) bool {
			cell := v.(*IOCell)
			t := taken{key: k.(string), m: m, vals: []int64{cell.read.Swap(0), cell.written.Swap(0)}}
			if t.vals[0] != 0 || t.vals[1] != 0 {
				all = append(all, t)
				volumeIDs = append(volumeIDs, t.key)
			}
			return true
		})
	}
	if len(all) == 0 {
		return nil
	}
	restore := func() {
		for _, t := range all {
			v, ok := t.m.Load(t.key)
			if !ok {
				continue
			}
			switch cell := v.(type) {
			case *s3Cell:
				for i, n := range t.vals {
					cell.n[i].Add(n)
				}
			case *IOCell:
				cell.CountIO(t.vals[0], t.vals[1])
			}
		}
	}
	buckets, err := st.MeterRefs(ctx, TypeBucket, bucketNames)
	if err != nil {
		restore()
		return fmt.Errorf("flush counters: %w", err)
	}
	vols, err := st.MeterRefs(ctx, TypeVolume, volumeIDs)
	if err != nil {
		restore()
		return fmt.Errorf("flush counters: %w", err)
	}
	var rows []Row
	row := func(ref Ref, comp string, n int64) {
		if n != 0 {
			rows = append(rows, Row{Ref: ref, Component: comp, From: hour, To: hour.Add(time.Hour), Level: -1, Amount: n})
		}
	}
	for _, t := range all {
		if t.m == &c.s3 {
			ref, ok := buckets[t.key]
			if !ok {
				c.forget(t.m, t.key)
				continue
			}
			for i, n := range t.vals {
				row(ref, s3SlotComponents[i], n)
			}
			continue
		}
		ref, ok := vols[t.key]
		if !ok {
			c.forget(t.m, t.key)
			continue
		}
		if t.m == &c.files {
			row(ref, NFSRead, t.vals[0])
			row(ref, NFSWrite, t.vals[1])
		} else {
			row(ref, NBDRead, t.vals[0])
			row(ref, NBDWrite, t.vals[1])
		}
	}
	if err := st.AddMeterCounts(ctx, rows); err != nil {
		restore()
		return fmt.Errorf("flush counters: %w", err)
	}
	return nil
}

func (c *Counters) forget(m *sync.Map, key string) {
	if _, loaded := m.LoadAndDelete(key); loaded {
		c.keys.Add(-1)
	}
}

// Dropped reports how many keys were refused because the map was full.
func (c *Counters) Dropped() int64 { return c.dropped.Load() }
