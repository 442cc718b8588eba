package s3

import (
	"context"
	"fmt"
	"time"

	"github.com/stowage/stowage/internal/core/bucket"
)

// LifecycleStore is what the lifecycle job needs of the store besides
// Meta (sqlstore implements it): the buckets that have rules, in name
// order after a name, and expiry of current versions in batches, each
// one transaction that skips what was rewritten since it was listed.
type LifecycleStore interface {
	LifecycleBuckets(ctx context.Context, after string, limit int) ([]bucket.Bucket, error)
	ExpireObjects(ctx context.Context, bucketID string, listed []bucket.Object, at time.Time) (expired int, freed []string, err error)
	// Checkpoint writes out the store's log (SQLite's WAL) now, so that
	// no foreground commit does it for the job's writes.
	Checkpoint(ctx context.Context) error
}

// LifecycleStats counts what one pass removed.
type LifecycleStats struct {
	Expired, Versions, Markers, Uploads int
}

// lifecyclePage is how many rows one listing reads: every page is its own
// short query, and expiries are batches of a few milliseconds (see
// pacer), so a pass holds no long transaction however many objects it
// expires.
const lifecyclePage = 1000

// RunLifecycle applies every bucket's lifecycle rules once, as of now. It
// is idempotent: what is already gone, or was rewritten since it was
// listed, is left alone, so passes may overlap or repeat (on any node).
// Deletions go through the store like a client's, so usage and quotas
// follow them, and a versioned bucket gets a delete marker as in S3.
func (h *Handler) RunLifecycle(ctx context.Context, ls LifecycleStore) (LifecycleStats, error) {
	var st LifecycleStats
	p := newPacer()
	after := ""
	for {
		bs, err := ls.LifecycleBuckets(ctx, after, 100)
		if err != nil {
			return st, fmt.Errorf("list lifecycle buckets: %w", err)
		}
		for _, b := range bs {
			if err := h.lifecycleBucket(ctx, ls, p, b, &st); err != nil {
				return st, fmt.Errorf("lifecycle of bucket %s: %w", b.Name, err)
			}
			after = b.Name
		}
		if len(bs) < 100 {
			return st, nil
		}
	}
}

func (h *Handler) lifecycleBucket(ctx context.Context, ls LifecycleStore, p *pacer, b bucket.Bucket, st *LifecycleStats) error {
	// Deletes the rules make announce s3:LifecycleExpiration events.
	ctx = bucket.WithCause(ctx, bucket.WriteCause{Event: bucket.EventExpired, Requester: "s3.amazonaws.com"})
	now := h.o.Now()
	var current, versions, uploads bool
	for _, r := range b.Lifecycle {
		if !r.Enabled {
			continue
		}
		current = current || r.ExpirationDays > 0 || !r.ExpirationDate.IsZero()
		versions = versions || r.NoncurrentDays > 0 || r.ExpiredDeleteMarker
		uploads = uploads || r.AbortUploadDays > 0
	}
	if current {
		if err := h.expireCurrent(ctx, ls, p, b, now, st); err != nil {
			return err
		}
	}
	if versions && b.Versioning != "" {
		if err := h.expireVersions(ctx, p, b, now, st); err != nil {
			return err
		}
	}
	if uploads {
		return h.abortStaleUploads(ctx, p, b, now, st)
	}
	return nil
}

// due reports whether a rule expires the current version o by now.
func (h *Handler) due(b bucket.Bucket, o bucket.Object, now time.Time) bool {
	for _, r := range b.Lifecycle {
		if t, ok := r.ExpiresAt(o.Modified, h.o.LifecycleDay); ok && !t.After(now) && r.Matches(o.Key, o.Size, o.Tags) {
			return true
		}
	}
	return false
}

// expireCurrent expires the bucket's current versions that are due, in
// batches paced by p. The listing carries no tags: a key that only a rule
// with tags may expire is read whole to judge it.
func (h *Handler) expireCurrent(ctx context.Context, ls LifecycleStore, p *pacer, b bucket.Bucket, now time.Time, st *LifecycleStats) error {
	after := ""
	var due []bucket.Object
	expire := func() error {
		for len(due) > 0 {
			n := min(len(due), p.batch)
			t0 := time.Now()
			expired, freed, err := ls.ExpireObjects(ctx, b.ID, due[:n], now.UTC())
			if err != nil {
				return err
			}
			h.dropFreed(ctx, freed)
			st.Expired += expired
			due = due[n:]
			if err := p.rest(ctx, n, time.Since(t0)); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		t0 := time.Now()
		os, err := h.o.Meta.ListObjects(ctx, b.ID, bucket.ListQuery{After: after, Limit: lifecyclePage})
		if err != nil {
			return err
		}
		for _, o := range os {
			after = o.Key
			switch {
			case h.dueUntagged(b, o, now):
			case h.maybeDue(b, o, now):
				cur, err := h.o.Meta.GetObject(ctx, b.ID, o.Key)
				if isNotExist(err) {
					continue
				}
				if err != nil {
					return err
				}
				if cur.DeleteMarker || !cur.Modified.Equal(o.Modified) || !h.due(b, cur, now) {
					continue
				}
			default:
				continue
			}
			due = append(due, o)
		}
		if err := p.rest(ctx, 0, time.Since(t0)); err != nil {
			return err
		}
		if err := expire(); err != nil {
			return err
		}
		t0 = time.Now()
		if err := ls.Checkpoint(ctx); err != nil {
			return err
		}
		if err := p.rest(ctx, 0, time.Since(t0)); err != nil {
			return err
		}
		if len(os) < lifecyclePage {
			return nil
		}
	}
}

// dueUntagged reports whether a rule without tags expires o by now, which
// the listing alone decides.
func (h *Handler) dueUntagged(b bucket.Bucket, o bucket.Object, now time.Time) bool {
	for _, r := range b.Lifecycle {
		if len(r.Tags) > 0 {
			continue
		}
		if t, ok := r.ExpiresAt(o.Modified, h.o.LifecycleDay); ok && !t.After(now) && r.Matches(o.Key, o.Size, nil) {
			return true
		}
	}
	return false
}

// maybeDue is due without the tags, which the listing does not carry.
func (h *Handler) maybeDue(b bucket.Bucket, o bucket.Object, now time.Time) bool {
	for _, r := range b.Lifecycle {
		r.Tags = nil
		if t, ok := r.ExpiresAt(o.Modified, h.o.LifecycleDay); ok && !t.After(now) && r.Matches(o.Key, o.Size, nil) {
			return true
		}
	}
	return false
}

// expireVersions removes noncurrent versions past their rule's days
// (keeping the newest NewerNoncurrent of them) and delete markers left
// with no version behind them.
func (h *Handler) expireVersions(ctx context.Context, p *pacer, b bucket.Bucket, now time.Time, st *LifecycleStats) error {
	q := bucket.VersionQuery{Limit: lifecyclePage}
	key, newer := "", time.Time{}
	index := 0 // of the version within its key, newest 0
	var markerOnly *bucket.Object
	flushMarker := func() error {
		if markerOnly == nil {
			return nil
		}
		m := *markerOnly
		markerOnly = nil
		for _, r := range b.Lifecycle {
			if r.Enabled && r.ExpiredDeleteMarker && r.Matches(m.Key, 0, nil) {
				_, err := h.o.Meta.DeleteVersion(ctx, b.ID, m.Key, m.VersionID, func(o bucket.Object) error {
					if !o.DeleteMarker {
						return fmt.Errorf("version %s of %s is no longer a delete marker", m.VersionID, m.Key)
					}
					return nil
				})
				if err == nil {
					st.Markers++
				}
				return nil
			}
		}
		return nil
	}
	for {
		t0 := time.Now()
		vs, err := h.o.Meta.ListVersions(ctx, b.ID, q)
		if err != nil {
			return err
		}
		for _, v := range vs {
			if v.Key != key {
				if err := flushMarker(); err != nil {
					return err
				}
				key, index = v.Key, 0
				if v.DeleteMarker {
					m := v
					markerOnly = &m
				}
			} else {
				markerOnly = nil
				index++
				if h.noncurrentDue(b, v, newer, index, now) {
					gone, err := h.o.Meta.DeleteVersion(ctx, b.ID, v.Key, v.VersionID, func(o bucket.Object) error {
						if o.Lock.LegalHold || o.Lock.Retained(now) {
							return fmt.Errorf("version %s of %s is locked", o.VersionID, o.Key)
						}
						return nil
					})
					if err == nil {
						h.dropFreed(ctx, []string{gone.BlobID})
						st.Versions++
					}
				}
			}
			newer = v.Modified
			q.AfterKey, q.AfterSeq = v.Key, v.Seq
		}
		if err := p.rest(ctx, 0, time.Since(t0)); err != nil {
			return err
		}
		if len(vs) < lifecyclePage {
			return flushMarker()
		}
	}
}

// noncurrentDue reports whether a rule expires v, the index-th newest
// version of its key, noncurrent since its successor was written.
func (h *Handler) noncurrentDue(b bucket.Bucket, v bucket.Object, since time.Time, index int, now time.Time) bool {
	for _, r := range b.Lifecycle {
		if !r.Enabled || r.NoncurrentDays == 0 || index <= r.NewerNoncurrent || !r.Matches(v.Key, v.Size, v.Tags) {
			continue
		}
		if !bucket.AfterDays(since, r.NoncurrentDays, h.o.LifecycleDay).After(now) {
			return true
		}
	}
	return false
}

func (h *Handler) abortStaleUploads(ctx context.Context, p *pacer, b bucket.Bucket, now time.Time, st *LifecycleStats) error {
	keyMarker, idMarker := "", ""
	for {
		t0 := time.Now()
		us, err := h.o.Meta.ListUploads(ctx, b.ID, "", keyMarker, idMarker, lifecyclePage)
		if err != nil {
			return err
		}
		for _, u := range us {
			keyMarker, idMarker = u.Key, u.ID
			for _, r := range b.Lifecycle {
				if !r.Enabled || r.AbortUploadDays == 0 || !r.Matches(u.Key, 0, nil) ||
					bucket.AfterDays(u.Initiated, r.AbortUploadDays, h.o.LifecycleDay).After(now) {
					continue
				}
				blobs, err := h.o.Meta.AbortUpload(ctx, b.ID, u.ID)
				if isNotExist(err) {
					break
				}
				if err != nil {
					return err
				}
				h.dropFreed(ctx, blobs)
				st.Uploads++
				break
			}
		}
		if err := p.rest(ctx, 0, time.Since(t0)); err != nil {
			return err
		}
		if len(us) < lifecyclePage {
			return nil
		}
	}
}

// dropFreed deletes blobs the store no longer references; a failure
// leaves an orphan the start-up collection removes.
func (h *Handler) dropFreed(ctx context.Context, ids []string) {
	for _, id := range ids {
		if id == "" {
			continue
		}
		if err := h.o.Blobs.Delete(ctx, id); err != nil && !isNotExist(err) {
			h.log.Warn("s3: lifecycle: delete blob", "blob", id, "err", err)
		}
	}
}

// pacer keeps a lifecycle pass to a share of the node: after each step it
// rests (1-lifecycleShare)/lifecycleShare times as long as the step took,
// and it sizes expiry batches so that one holds the store's writer for
// about lifecycleBatchTime. Foreground writes then wait at most one short
// batch, and the pass takes at most its share of CPU and writer time on a
// busy node, however many objects expire.
type pacer struct {
	batch int
}

const (
	lifecycleShare     = 0.25
	lifecycleBatchTime = 5 * time.Millisecond
	lifecycleBatchMax  = 500
)

func newPacer() *pacer { return &pacer{batch: 50} }

// rest follows a step that took took, n objects expired in one batch (0
// for a step that was no batch).
func (p *pacer) rest(ctx context.Context, n int, took time.Duration) error {
	if n > 0 && n >= p.batch/2 {
		// Towards lifecycleBatchTime, by at most a factor of two a step.
		want := int(float64(n) * float64(lifecycleBatchTime) / float64(max(took, time.Microsecond)))
		p.batch = max(1, p.batch/2, min(want, 2*p.batch, lifecycleBatchMax))
	}
	t := time.NewTimer(time.Duration(float64(took) * (1 - lifecycleShare) / lifecycleShare))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
