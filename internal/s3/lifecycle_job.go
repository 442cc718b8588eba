package s3

import (
	"context"
	"fmt"
	"time"

	"github.com/stowage/stowage/internal/core/bucket"
)

// LifecycleBuckets pages through the live buckets that have lifecycle
// rules, in name order after a name (sqlstore implements it).
type LifecycleBuckets interface {
	LifecycleBuckets(ctx context.Context, after string, limit int) ([]bucket.Bucket, error)
}

// LifecycleStats counts what one pass removed.
type LifecycleStats struct {
	Expired, Versions, Markers, Uploads int
}

// lifecyclePage is how many rows one listing reads: every page is its own
// short query, and every removal its own transaction, so a pass holds no
// long transaction however many objects it expires.
const lifecyclePage = 1000

// RunLifecycle applies every bucket's lifecycle rules once, as of now. It
// is idempotent: what is already gone, or was rewritten since it was
// listed, is left alone, so passes may overlap or repeat (on any node).
// Deletions go through the store like a client's, so usage and quotas
// follow them, and a versioned bucket gets a delete marker as in S3.
func (h *Handler) RunLifecycle(ctx context.Context, lb LifecycleBuckets) (LifecycleStats, error) {
	var st LifecycleStats
	after := ""
	for {
		bs, err := lb.LifecycleBuckets(ctx, after, 100)
		if err != nil {
			return st, fmt.Errorf("list lifecycle buckets: %w", err)
		}
		for _, b := range bs {
			if err := h.lifecycleBucket(ctx, b, &st); err != nil {
				return st, fmt.Errorf("lifecycle of bucket %s: %w", b.Name, err)
			}
			after = b.Name
		}
		if len(bs) < 100 {
			return st, nil
		}
	}
}

func (h *Handler) lifecycleBucket(ctx context.Context, b bucket.Bucket, st *LifecycleStats) error {
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
		if err := h.expireCurrent(ctx, b, now, st); err != nil {
			return err
		}
	}
	if versions && b.Versioning != "" {
		if err := h.expireVersions(ctx, b, now, st); err != nil {
			return err
		}
	}
	if uploads {
		return h.abortStaleUploads(ctx, b, now, st)
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

func (h *Handler) expireCurrent(ctx context.Context, b bucket.Bucket, now time.Time, st *LifecycleStats) error {
	after := ""
	for {
		os, err := h.o.Meta.ListObjects(ctx, b.ID, bucket.ListQuery{After: after, Limit: lifecyclePage})
		if err != nil {
			return err
		}
		for _, o := range os {
			after = o.Key
			// The listing has no tags; read the version when a rule may
			// expire it, and only then, to judge it whole.
			if !h.maybeDue(b, o, now) {
				continue
			}
			cur, err := h.o.Meta.GetObject(ctx, b.ID, o.Key)
			if isNotExist(err) {
				continue
			}
			if err != nil {
				return err
			}
			if cur.DeleteMarker || !cur.Modified.Equal(o.Modified) || !h.due(b, cur, now) || cur.Lock.LegalHold || cur.Lock.Retained(now) {
				continue
			}
			c, err := h.o.Meta.DeleteObject(ctx, b.ID, o.Key, now.UTC())
			if isNotExist(err) {
				continue
			}
			if err != nil {
				return err
			}
			h.dropFreed(ctx, c.Freed)
			st.Expired++
		}
		if len(os) < lifecyclePage {
			return nil
		}
	}
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
func (h *Handler) expireVersions(ctx context.Context, b bucket.Bucket, now time.Time, st *LifecycleStats) error {
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

func (h *Handler) abortStaleUploads(ctx context.Context, b bucket.Bucket, now time.Time, st *LifecycleStats) error {
	keyMarker, idMarker := "", ""
	for {
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
