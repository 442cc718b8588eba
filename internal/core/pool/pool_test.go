package pool

import (
	"context"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/errs"
)

type block struct{}

func (block) Stats(context.Context) (BlockStats, error) { return BlockStats{Volumes: 1}, nil }
func (block) Fsck(context.Context) (FsckReport, error)  { return FsckReport{Volumes: 1}, nil }

// objects records the cutoff it was asked to collect with.
type objects struct{ cutoff time.Time }

func (*objects) Stats(context.Context) (ObjectStats, error) { return ObjectStats{Buckets: 2}, nil }
func (o *objects) CollectOrphans(_ context.Context, c time.Time) (int, error) {
	o.cutoff = c
	return 3, nil
}

func TestStaffOnly(t *testing.T) {
	ctx := context.Background()
	o := &objects{}
	s := NewService(block{}, o)
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s.now = func() time.Time { return now }
	staff := identity.Principal{User: identity.User{Staff: true}}
	for _, p := range []identity.Principal{{}, {User: identity.User{Staff: true}, BoundProject: "p"}} {
		_, err1 := s.Stats(ctx, p)
		_, err2 := s.FsckBlock(ctx, p)
		_, err3 := s.CollectGarbage(ctx, p, 0)
		for _, err := range []error{err1, err2, err3} {
			if !errs.Is(err, errs.Permission) {
				t.Errorf("principal %+v: %v, want permission", p, err)
			}
		}
	}
	if st, err := s.Stats(ctx, staff); err != nil || st.Block.Volumes != 1 || st.Object.Buckets != 2 {
		t.Errorf("stats %+v, %v", st, err)
	}
	r, err := s.CollectGarbage(ctx, staff, 0)
	if err != nil || r.Removed != 3 || !r.Cutoff.Equal(now.Add(-DefaultMinAge)) || !o.cutoff.Equal(r.Cutoff) {
		t.Errorf("gc with the default age: %+v, %v", r, err)
	}
	if _, err := s.CollectGarbage(ctx, staff, MinAge-time.Second); !errs.Is(err, errs.Invalid) {
		t.Errorf("gc younger than MinAge: %v", err)
	}
	if _, err := s.CollectGarbage(ctx, staff, -time.Hour); !errs.Is(err, errs.Invalid) {
		t.Errorf("negative age: %v", err)
	}
}
