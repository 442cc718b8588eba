package sqlstore

import (
	"sync"
	"time"

	"github.com/stowage/stowage/internal/core/bucket"
)

// hotTTL bounds how stale a cached row may be when another node changed
// it; this node's own changes drop the cache at once.
const hotTTL = time.Second

// hotCacheMax bounds each cache; past it the cache starts over.
const hotCacheMax = 10000

// hotCache keeps, for up to hotTTL, the rows the S3 data plane reads on
// every request: access keys and bucket configurations. The SQLite driver
// compiles each statement on every execution, which made these lookups a
// third of a small GET's CPU.
type hotCache struct {
	mu      sync.Mutex
	creds   map[string]hotEntry[bucket.Credential]
	buckets map[string]hotEntry[bucket.Bucket]
}

type hotEntry[V any] struct {
	v  V
	at time.Time
}

// cacheGet takes the map by its field's address: forget and cachePut
// replace the maps, so the field is read under the lock too.
func cacheGet[V any](c *hotCache, m *map[string]hotEntry[V], k string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := (*m)[k]
	if !ok || time.Since(e.at) > hotTTL {
		var zero V
		return zero, false
	}
	return e.v, true
}

func cachePut[V any](c *hotCache, m *map[string]hotEntry[V], k string, v V, since time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *m == nil || len(*m) >= hotCacheMax {
		*m = map[string]hotEntry[V]{}
	}
	// since is when the row was read: an entry never claims to be
	// fresher than the read that produced it.
	(*m)[k] = hotEntry[V]{v: v, at: since}
}

// forget drops everything; every write to credentials or bucket
// configuration calls it after its transaction ends.
func (c *hotCache) forget() {
	c.mu.Lock()
	c.creds, c.buckets = nil, nil
	c.mu.Unlock()
}
