//go:build ceph

package rbd

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ceph/go-ceph/rbd"

	"github.com/stowage/stowage/internal/errs"
)

// ObjectSize is the size of the RBD objects of every image the store
// makes (clones keep their parent's): the chunk of Changed.
func (s *Store) ObjectSize() int64 { return 1 << order }

// Changed lists, ascending, the objects (ObjectSize bytes each, by index)
// whose data may differ between from and to, snapshots of one image (to
// may be the volume itself): those written or discarded since from. An
// empty from means every object holding data in to, its parent's
// included. It is librbd's whole-object diff, which fast-diff answers
// from the object maps.
func (s *Store) Changed(ctx context.Context, from, to string) ([]int64, error) {
	out, err := s.changed(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("diff %s..%s: %w", from, to, err)
	}
	return out, nil
}

func (s *Store) changed(ctx context.Context, from, to string) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	image, snap := to, ""
	held, err := s.snapshotOf(to)
	if err != nil {
		return nil, err
	}
	if held != "" {
		image, snap = held, to
	}
	if from != "" {
		fromImage, err := s.snapshotOf(from)
		if err != nil {
			return nil, err
		}
		if fromImage == "" {
			return nil, errs.E(errs.NotExist, "snapshot %s not found", from)
		}
		if fromImage != image {
			return nil, errs.E(errs.Invalid, "%s and %s are not snapshots of one image", from, to)
		}
	}
	var img *rbd.Image
	if snap == "" {
		img, err = s.live(image)
	} else {
		img, err = s.openImage(image, snap)
	}
	if err != nil {
		return nil, err
	}
	defer img.Close()
	size, err := img.GetSize()
	if err != nil {
		return nil, kind(err)
	}
	if from != "" {
		snaps, err := img.GetSnapshotNames()
		if err != nil {
			return nil, kind(err)
		}
		i := slices.IndexFunc(snaps, func(sn rbd.SnapInfo) bool { return sn.Name == from })
		if i < 0 {
			return nil, errs.E(errs.NotExist, "snapshot %s not found", from)
		}
		// Volumes only grow; and Pacific's librbd aborts the process
		// on a fast diff towards a smaller size (see snapExclusive).
		if snaps[i].Size > size {
			return nil, errs.E(errs.Invalid, "%s is smaller than %s", to, from)
		}
	}
	if size == 0 {
		return nil, nil // nothing to diff, and librbd aborts on an empty fast diff
	}
	objs := map[int64]bool{}
	obj := s.ObjectSize()
	err = img.DiffIterate(rbd.DiffIterateConfig{SnapName: from, Length: size,
		IncludeParent: rbd.IncludeParent, WholeObject: rbd.EnableWholeObject,
		Callback: func(off, length uint64, _ int, _ interface{}) int {
			for o := int64(off) / obj; o*obj < int64(off+length); o++ {
				objs[o] = true
			}
			return 0
		}})
	if err != nil {
		return nil, kind(err)
	}
	out := make([]int64, 0, len(objs))
	for o := range objs {
		out = append(out, o)
	}
	slices.Sort(out)
	return out, nil
}

// List returns the ids of the volumes and snapshots starting with prefix.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	const page = 1000
	var out []string
	for after := ""; ; {
		vals, err := s.io.GetOmapValues(indexObject, after, prefix, page)
		if err != nil && errno(err) != 2 {
			return nil, fmt.Errorf("read the snapshot index: %w", err)
		}
		for id := range vals {
			out = append(out, id)
			after = max(after, id)
		}
		if len(vals) < page {
			break
		}
	}
	names, err := rbd.GetImageNames(s.io)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", kind(err))
	}
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) {
			continue
		}
		img, err := s.live(n)
		if errs.Is(err, errs.NotExist) {
			continue // removed meanwhile, or a deleted volume's image
		}
		if err != nil {
			return nil, err
		}
		img.Close()
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}
