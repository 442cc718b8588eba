package sqlstore

import (
	"sync"
	"time"

	"github.com/stowage/stowage/internal/core/bucket"
)

// hotTTL bounds how stale a cached row may be should an invalidation
// from another node ever go missing; this node's own changes, and on
// PostgreSQL every node's (through LISTEN/NOTIFY, notify.go), drop the
// cache at once.
const hotTTL = time.Second

// hotCacheMax bounds each cache; past it the cache starts over.
const hotCacheMax = 10000

// hotCache keeps, for up to hotTTL, the rows the S3 data plane reads on
// every request: access keys and bucket configurations. The SQLite driver
// compiles each statement on every execution, which made these lookups a
// third of a small GET's CPU.
//
// On PostgreSQL the cache is off until the node listens for other nodes'
// invalidations, and off again while that connection is lost: a node that
// cannot hear a revocation must not answer from memory.
type hotCache struct {
	mu      sync.Mutex
	creds   map[string]hotEntry[bucket.Credential]
	buckets map[string]hotEntry[bucket.Bucket]
	// gen counts forgets: a read that began before one must not store
	// what it read, or a revocation that landed mid-read would be undone.
	gen uint64
	off bool
}

type hotEntry[V any] struct {
	v  V
	at time.Time
}

// cacheGet takes the map by its field's address: forget and cachePut
// replace the maps, so the field is read under the lock too.
// On a miss it returns the generation the caller's read belongs to.
func cacheGet[V any](c *hotCache, m *map[string]hotEntry[V], k string) (V, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := (*m)[k]
	if c.off || !ok || time.Since(e.at) > hotTTL {
		var zero V
		return zero, c.gen, false
	}
	return e.v, c.gen, true
}

func cachePut[V any](c *hotCache, m *map[string]hotEntry[V], k string, v V, since time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off || gen != c.gen {
		return
	}
	if *m == nil || len(*m) >= hotCacheMax {
		*m = map[string]hotEntry[V]{}
	}
	// since is when the row was read: an entry never claims to be
	// fresher than the read that produced it.
	(*m)[k] = hotEntry[V]{v: v, at: since}
}

// forget drops everything; every write to credentials or bucket
// configuration calls it (through Store.forget) after its transaction
// ends.
func (c *hotCache) forget() {
	c.mu.Lock()
	c.creds, c.buckets = nil, nil
	c.gen++
	c.mu.Unlock()
}

// enable turns the cache on or off; either way it starts empty.
func (c *hotCache) enable(on bool) {
	c.mu.Lock()
	c.creds, c.buckets = nil, nil
	c.gen++
	c.off = !on
	c.mu.Unlock()
}
