package objectstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Queue is the metadata side of blob garbage, kept without listing the
// storage (sqlstore.Store implements it): intents of blobs being written,
// which their commit deletes, and removals that committed deletes,
// overwrites and aborts queued in their own transactions.
type Queue interface {
	BeginBlob(ctx context.Context, id string) error
	StaleIntents(ctx context.Context, before time.Time, limit int) ([]string, error)
	DropIntent(ctx context.Context, id string, before time.Time) (bool, error)
	QueuedRemovals(ctx context.Context, limit int) ([]string, error)
	RemovalsDone(ctx context.Context, ids []string) error
}

// Deleter deletes committed blobs; deleting one already gone is no error.
type Deleter interface {
	Delete(ctx context.Context, id string) error
}

// Leftovers is what a backend that records intents (the RADOS store)
// offers besides Delete: removing whatever a write that never finished
// left of a blob, reporting how many stored objects went.
type Leftovers interface {
	Remove(ctx context.Context, id string) (int, error)
}

// Swept counts one sweep's work.
type Swept struct {
	Intents  int // stale intents whose leftovers were removed
	Objects  int // stored objects those leftovers were
	Removals int // queued removals carried out
}

const sweepBatch = 500

// Sweep removes the leftovers of every intent older than cutoff (blobs a
// crash, or a failed write, left uncommitted) when b can (Leftovers), and
// carries out every queued removal. An intent is claimed (its row deleted
// while still stale) before its bytes go, so a commit that comes first
// keeps them; one whose removal fails is recorded again, to be retried.
func Sweep(ctx context.Context, q Queue, b Deleter, cutoff time.Time) (Swept, error) {
	var out Swept
	if lo, ok := b.(Leftovers); ok {
		for {
			ids, err := q.StaleIntents(ctx, cutoff, sweepBatch)
			if err != nil {
				return out, fmt.Errorf("objectstore: sweep: %w", err)
			}
			for _, id := range ids {
				claimed, err := q.DropIntent(ctx, id, cutoff)
				if err != nil {
					return out, fmt.Errorf("objectstore: sweep: %w", err)
				}
				if !claimed {
					continue
				}
				n, err := lo.Remove(ctx, id)
				out.Objects += n
				if err != nil {
					return out, errors.Join(fmt.Errorf("objectstore: sweep blob %s: %w", id, err), q.BeginBlob(ctx, id))
				}
				out.Intents++
			}
			if len(ids) < sweepBatch {
				break
			}
		}
	}
	for {
		ids, err := q.QueuedRemovals(ctx, sweepBatch)
		if err != nil {
			return out, fmt.Errorf("objectstore: sweep: %w", err)
		}
		for _, id := range ids {
			if err := b.Delete(ctx, id); err != nil {
				return out, fmt.Errorf("objectstore: sweep blob %s: %w", id, err)
			}
		}
		if err := q.RemovalsDone(ctx, ids); err != nil {
			return out, fmt.Errorf("objectstore: sweep: %w", err)
		}
		out.Removals += len(ids)
		if len(ids) < sweepBatch {
			return out, nil
		}
	}
}
