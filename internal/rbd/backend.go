//go:build ceph

package rbd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ceph/go-ceph/rbd"

	"github.com/stowage/stowage/internal/errs"
)

// Create makes an empty image of size bytes. An existing image of the same
// size is success, so a retried job step is harmless; any other existing
// id is an errs.Exist error.
func (s *Store) Create(ctx context.Context, id string, size int64) error {
	if err := s.create(ctx, id, size); err != nil {
		return fmt.Errorf("create volume %s: %w", id, err)
	}
	return nil
}

func (s *Store) create(ctx context.Context, id string, size int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	if size <= 0 || size%512 != 0 {
		return errs.Field("size", "size must be a positive multiple of 512 bytes")
	}
	opts := imageOptions(false)
	defer opts.Destroy()
	err := rbd.CreateImage(s.io, id, uint64(size), opts)
	if errno(err) != 17 {
		return kind(err)
	}
	img, err := s.live(id)
	if errs.Is(err, errs.NotExist) && !errors.Is(err, errDeleted) {
		// librbd names an image before it writes its header: a create
		// killed in between leaves a name that does not open. That is
		// this step's own partial work; make the image again.
		if err := s.removePartial(id); err != nil {
			return err
		}
		return kind(rbd.CreateImage(s.io, id, uint64(size), opts))
	}
	if err != nil {
		return errs.E(errs.Exist, "volume %s already exists", id)
	}
	defer img.Close()
	cur, err := img.GetSize()
	if err != nil {
		return kind(err)
	}
	if int64(cur) != size {
		return errs.E(errs.Exist, "volume %s already exists with another size", id)
	}
	return nil
}

func imageOptions(clone bool) *rbd.ImageOptions {
	o := rbd.NewRbdImageOptions()
	_ = o.SetUint64(rbd.ImageOptionFormat, 2)
	_ = o.SetUint64(rbd.ImageOptionFeatures, features)
	_ = o.SetUint64(rbd.ImageOptionOrder, order)
	if clone {
		// Clone v2 needs no protected snapshot, so parents can be
		// snapshots the service deletes in any order.
		_ = o.SetUint64(rbd.ImageOptionCloneFormat, 2)
	}
	return o
}

// removePartial removes what a killed create or clone of image id left.
func (s *Store) removePartial(id string) error {
	if err := rbd.RemoveImage(s.io, id); err != nil && errno(err) != 2 {
		return fmt.Errorf("remove the partial image %s: %w", id, kind(err))
	}
	return nil
}

// Snapshot makes newID an RBD snapshot of volume srcID. RBD cannot
// snapshot a snapshot. An existing snapshot newID of srcID is success.
func (s *Store) Snapshot(ctx context.Context, srcID, newID string) error {
	if err := s.snapshot(ctx, srcID, newID); err != nil {
		return fmt.Errorf("snapshot %s as %s: %w", srcID, newID, err)
	}
	return nil
}

func (s *Store) snapshot(ctx context.Context, srcID, newID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkID(newID); err != nil {
		return err
	}
	held, err := s.snapshotOf(newID)
	if err != nil {
		return err
	}
	if held != "" && held != srcID {
		return errs.E(errs.Exist, "snapshot %s already exists of another volume", newID)
	}
	if src, err := s.snapshotOf(srcID); err != nil {
		return err
	} else if src != "" {
		return errs.E(errs.Conflict, "%s is a snapshot; RBD snapshots volumes only", srcID)
	}
	img, err := s.live(srcID)
	if err != nil {
		return err
	}
	defer img.Close()
	// The index entry goes first: a crash after it leaves an entry whose
	// snapshot the retry makes, or whose deletion removes nothing more.
	if held == "" {
		if err := s.io.SetOmap(indexObject, map[string][]byte{newID: []byte(srcID)}); err != nil {
			return fmt.Errorf("record snapshot: %w", err)
		}
	}
	return s.makeSnap(img, srcID, newID)
}

// makeSnap creates snapshot snap of img (image's open head). One that a
// killed attempt made is kept when it opens: librbd records a snapshot in
// the image's header before it writes the snapshot's object map, so a
// kill in between leaves a snapshot that reads and clones fail on with
// ENOENT. That one is this step's own partial work, unused before the
// step ends: it is removed and made again.
func (s *Store) makeSnap(img *rbd.Image, image, snap string) error {
	_, err := img.CreateSnapshot(snap)
	if errno(err) != 17 {
		return kind(err)
	}
	at, err := s.openImage(image, snap)
	if err == nil {
		at.Close()
		return nil
	}
	if !errs.Is(err, errs.NotExist) {
		return err
	}
	if err := img.GetSnapshot(snap).Remove(); err != nil && errno(err) != 2 {
		return fmt.Errorf("remove the partial snapshot %s@%s: %w", image, snap, kind(err))
	}
	_, err = img.CreateSnapshot(snap)
	return kind(err)
}

// Clone makes newID a writable RBD clone (v2) of srcID, a snapshot or a
// volume. A volume is cloned through a snapshot of its own, which is
// removed right away: RBD keeps it in the trash namespace while the clone
// needs it. An existing newID is success.
func (s *Store) Clone(ctx context.Context, srcID, newID string) error {
	if err := s.clone(ctx, srcID, newID); err != nil {
		return fmt.Errorf("clone %s as %s: %w", srcID, newID, err)
	}
	return nil
}

func (s *Store) clone(ctx context.Context, srcID, newID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkID(newID); err != nil {
		return err
	}
	parent, err := s.snapshotOf(srcID)
	if err != nil {
		return err
	}
	snap := srcID
	if parent == "" {
		parent, snap = srcID, cloneSnapPrefix+newID
	}
	if img, err := s.openImage(newID, ""); err == nil {
		made, _ := img.GetMetadata(madeKey)
		img.Close()
		if made == newID {
			return s.finishClone(parent, snap, newID) // a crashed attempt made the clone
		}
		// librbd makes the image, then attaches it to its parent: a
		// clone killed on the way may have no parent, or a parent that
		// does not count it. It is this step's own partial work (the
		// volume is not in use before the step ends); make it again.
		if err := s.removePartial(newID); err != nil {
			return err
		}
	} else if !errs.Is(err, errs.NotExist) {
		return err
	}
	if snap != srcID {
		img, err := s.live(parent)
		if err != nil {
			return fmt.Errorf("open the source image: %w", err)
		}
		err = s.makeSnap(img, parent, snap)
		img.Close()
		if err != nil {
			return fmt.Errorf("snapshot the source image: %w", err)
		}
	}
	opts := imageOptions(true)
	defer opts.Destroy()
	err = rbd.CloneImage(s.io, parent, snap, s.io, newID, opts)
	if errno(err) == 17 {
		// A name without a header (see create): left by a killed clone.
		if err := s.removePartial(newID); err != nil {
			return err
		}
		err = rbd.CloneImage(s.io, parent, snap, s.io, newID, opts)
	}
	if err != nil {
		return fmt.Errorf("clone %s@%s: %w", parent, snap, kind(err))
	}
	return s.finishClone(parent, snap, newID)
}

// finishClone records the clone's parent and drops the transient
// snapshot a clone of a volume was made from. A chain grown too deep is
// cut later by Flatten, in a job of its own, so that the clone is usable
// at once.
func (s *Store) finishClone(parent, snap, id string) error {
	img, err := s.openImage(id, "")
	if err != nil {
		return fmt.Errorf("open the clone: %w", err)
	}
	err = s.recordParent(img)
	if err == nil {
		// The clone is whole: a retry keeps it (see clone).
		err = kind(img.SetMetadata(madeKey, id))
	}
	img.Close()
	if err != nil {
		return err
	}
	return s.dropCloneSnap(parent, snap)
}

// recordParent keeps the id of a clone's parent image in the clone's
// metadata: librbd stops naming a parent once it sits in the RBD trash,
// and the parent must be found to be removed after its last clone. A
// clone inherits its parent's metadata, so the parent's own parent and a
// deleted parent's marker are overwritten or dropped here.
func (s *Store) recordParent(img *rbd.Image) error {
	if err := img.RemoveMetadata(deletedKey); err != nil && errno(err) != 2 {
		return kind(err)
	}
	p, err := img.GetParent()
	if errno(err) == 2 { // flattened by an earlier attempt
		if err := img.RemoveMetadata(parentKey); err != nil && errno(err) != 2 {
			return kind(err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("parent of %s: %w", img.GetName(), kind(err))
	}
	return kind(img.SetMetadata(parentKey, p.Image.ImageID))
}

// maxDepth bounds a clone's chain of parents: a read of data a clone does
// not hold walks the chain, one lookup per level, and clones of clones
// (reverts, restores of restored volumes) would otherwise grow it forever.
const maxDepth = 4

// Flatten copies the parents' data into clone id when its chain is
// deeper than maxDepth, which cuts it from the chain, and removes the
// parents RBD no longer needs; otherwise it does nothing. It may run
// while the clone is exported: librbd hands the work to the holder of the
// image's exclusive lock. A retry after a crash finishes the job.
func (s *Store) Flatten(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.flattenDeep(id); err != nil {
		return fmt.Errorf("flatten volume %s: %w", id, err)
	}
	return nil
}

func (s *Store) flattenDeep(id string) error {
	img, err := s.openImage(id, "")
	if err != nil {
		return err
	}
	defer img.Close()
	parent, err := img.GetMetadata(parentKey)
	if errno(err) == 2 {
		return nil // no parent, or flattened already
	}
	if err != nil {
		return kind(err)
	}
	depth, err := s.depth(parent)
	if err != nil || depth < maxDepth {
		return err
	}
	if err := img.Flatten(); err != nil {
		return fmt.Errorf("flatten %s: %w", id, kind(err))
	}
	if err := img.RemoveMetadata(parentKey); err != nil && errno(err) != 2 {
		return kind(err)
	}
	return s.reap(parent)
}

// depth counts the images from parent up its chain.
func (s *Store) depth(parent string) (int, error) {
	n := 0
	for parent != "" && n <= maxDepth {
		n++
		img, err := rbd.OpenImageById(s.io, parent, rbd.NoSnapshot)
		if err != nil {
			return 0, kind(err)
		}
		parent, err = img.GetMetadata(parentKey)
		img.Close()
		if errno(err) == 2 {
			break
		}
		if err != nil {
			return 0, kind(err)
		}
	}
	return n, nil
}

// dropCloneSnap removes the snapshot a clone of a volume was made from;
// the clone keeps it alive in the trash namespace.
func (s *Store) dropCloneSnap(image, snap string) error {
	if !strings.HasPrefix(snap, cloneSnapPrefix) {
		return nil
	}
	img, err := s.openImage(image, "")
	if errs.Is(err, errs.NotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer img.Close()
	if err := img.GetSnapshot(snap).Remove(); err != nil && errno(err) != 2 {
		return fmt.Errorf("remove snapshot %s@%s: %w", image, snap, kind(err))
	}
	return nil
}

// Grow sets a volume's size to size, which may not be smaller than the
// current one.
func (s *Store) Grow(ctx context.Context, id string, size int64) error {
	if err := s.grow(ctx, id, size); err != nil {
		return fmt.Errorf("grow volume %s: %w", id, err)
	}
	return nil
}

func (s *Store) grow(ctx context.Context, id string, size int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if img, err := s.snapshotOf(id); err != nil {
		return err
	} else if img != "" {
		return errs.E(errs.Conflict, "volume %s is a read-only snapshot", id)
	}
	img, err := s.live(id)
	if err != nil {
		return err
	}
	defer img.Close()
	cur, err := img.GetSize()
	if err != nil {
		return kind(err)
	}
	switch {
	case size < int64(cur):
		return errs.Field("size", "cannot shrink volume %s from %d to %d bytes", id, cur, size)
	case size == int64(cur):
		return nil
	}
	return kind(img.Resize(uint64(size)))
}

// Delete removes a volume, clone or snapshot; a missing one is success.
// A volume's image stays (marked deleted, shrunk to nothing) while
// snapshots of it remain, and goes with the last of them.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.delete(ctx, id); err != nil {
		return fmt.Errorf("delete volume %s: %w", id, err)
	}
	return nil
}

func (s *Store) delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	held, err := s.snapshotOf(id)
	if err != nil {
		return err
	}
	if held != "" {
		return s.deleteSnapshot(held, id)
	}
	img, err := s.openImage(id, "")
	if errs.Is(err, errs.NotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	snaps, err := userSnaps(img)
	if err == nil && len(snaps) > 0 {
		// The marker goes first, so that a retry after a crash between
		// the two still finds the volume gone.
		if err = img.SetMetadata(deletedKey, id); err == nil {
			err = img.Resize(0)
		}
	}
	img.Close()
	if err != nil || len(snaps) > 0 {
		return kind(err)
	}
	return s.removeImage(id)
}

func (s *Store) deleteSnapshot(image, id string) error {
	img, err := s.openImage(image, "")
	if err != nil && !errs.Is(err, errs.NotExist) {
		return err
	}
	if err == nil {
		// Clones of it keep it alive in the trash namespace.
		err = img.GetSnapshot(id).Remove()
		if errno(err) == 2 {
			err = nil
		}
		gone := deleted(img)
		var left []string
		if err == nil {
			left, err = userSnaps(img)
		}
		img.Close()
		if err != nil {
			return fmt.Errorf("remove snapshot %s@%s: %w", image, id, kind(err))
		}
		if gone && len(left) == 0 {
			if err := s.removeImage(image); err != nil {
				return err
			}
		}
	}
	// The index entry goes last, so that a retry still finds the image.
	if err := s.io.RmOmapKeys(indexObject, []string{id}); err != nil && errno(err) != 2 {
		return fmt.Errorf("unrecord snapshot: %w", err)
	}
	return nil
}

// userSnaps lists an image's snapshots that stand for Stowage snapshots:
// not the trash namespace, not the transient ones clones start from.
func userSnaps(img *rbd.Image) ([]string, error) {
	all, err := img.GetSnapshotNames()
	if err != nil {
		return nil, kind(err)
	}
	var names []string
	for _, sn := range all {
		ns, err := img.GetSnapNamespaceType(sn.Id)
		if err != nil {
			return nil, kind(err)
		}
		if ns == rbd.SnapNamespaceTypeUser && !strings.HasPrefix(sn.Name, cloneSnapPrefix) {
			names = append(names, sn.Name)
		}
	}
	return names, nil
}

// removeImage removes an image with no snapshots Stowage still names.
// Trash-namespace snapshots that clones still read make RBD refuse; then
// the image moves to the RBD trash, and the removal of its last clone
// removes it (see reap).
func (s *Store) removeImage(name string) error {
	img, err := s.openImage(name, "")
	if errs.Is(err, errs.NotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	parent, _ := img.GetMetadata(parentKey)
	all, err := img.GetSnapshotNames()
	if err == nil {
		for _, sn := range all {
			if strings.HasPrefix(sn.Name, cloneSnapPrefix) {
				if err = img.GetSnapshot(sn.Name).Remove(); err != nil && errno(err) != 2 {
					break
				}
				err = nil
			}
		}
	}
	img.Close()
	if err != nil {
		return kind(err)
	}
	switch err := rbd.RemoveImage(s.io, name); errno(err) {
	case 0, 2:
	case 16, 39: // snapshots in the trash namespace: clones still read them
		switch err := rbd.GetImage(s.io, name).Trash(0); errno(err) {
		case 0, 2:
		case 16:
			// Open elsewhere, e.g. by a flatten job still copying into
			// it: not a conflict of the caller's, so the job retries.
			return fmt.Errorf("move %s to the RBD trash: the image is still open: %w", name, err)
		default:
			return fmt.Errorf("move %s to the RBD trash: %w", name, kind(err))
		}
		return nil
	default:
		return fmt.Errorf("remove image %s: %w", name, kind(err))
	}
	if parent != "" {
		return s.reap(parent)
	}
	return nil
}

// reap removes the image with the given RBD id, the parent of a clone
// just removed or flattened, when nothing needs it any more: its volume
// was deleted (it sits in the RBD trash, or is marked deleted) and librbd
// removed its last trash-namespace snapshot with that clone. A chain of
// such images goes link by link.
func (s *Store) reap(imageID string) error {
	img, err := rbd.OpenImageById(s.io, imageID, rbd.NoSnapshot)
	if errno(err) == 2 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open parent image %s: %w", imageID, kind(err))
	}
	all, err := img.GetSnapshotNames()
	name, derr := img.GetMetadata(deletedKey)
	grand, _ := img.GetMetadata(parentKey)
	img.Close()
	if err != nil || len(all) > 0 {
		return kind(err)
	}
	switch err := rbd.TrashRemove(s.io, imageID, true); errno(err) {
	case 0:
	case 2: // not in the trash: a deleted volume's image, or a live one
		if derr != nil || name == "" {
			return nil
		}
		return s.removeImage(name)
	default:
		return fmt.Errorf("remove image %s from the RBD trash: %w", imageID, kind(err))
	}
	if grand != "" {
		return s.reap(grand)
	}
	return nil
}

// Usage reports the bytes of the RBD objects id holds (at 4 MiB object
// granularity, from the fast-diff object map) and the bytes only it holds:
// for a volume what changed since its last snapshot, for a snapshot what
// changed between it and the next one.
func (s *Store) Usage(ctx context.Context, id string) (allocated, exclusive int64, err error) {
	allocated, exclusive, err = s.usage(ctx, id)
	if err != nil {
		return 0, 0, fmt.Errorf("usage of volume %s: %w", id, err)
	}
	return allocated, exclusive, nil
}

func (s *Store) usage(ctx context.Context, id string) (int64, int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	held, err := s.snapshotOf(id)
	if err != nil {
		return 0, 0, err
	}
	if held == "" {
		img, err := s.live(id)
		if err != nil {
			return 0, 0, err
		}
		defer img.Close()
		alloc, err := diff(img, rbd.NoSnapshot)
		if err != nil {
			return 0, 0, err
		}
		snaps, err := userSnaps(img)
		if err != nil || len(snaps) == 0 {
			return alloc, alloc, err
		}
		excl, err := diff(img, snaps[len(snaps)-1])
		return alloc, excl, err
	}
	img, err := s.openImage(held, "")
	if err != nil {
		return 0, 0, err
	}
	defer img.Close()
	all, err := img.GetSnapshotNames()
	if err != nil {
		return 0, 0, kind(err)
	}
	slices.SortFunc(all, func(a, b rbd.SnapInfo) int { return cmp.Compare(a.Id, b.Id) })
	i := slices.IndexFunc(all, func(sn rbd.SnapInfo) bool { return sn.Name == id })
	if i < 0 {
		return 0, 0, errs.E(errs.NotExist, "snapshot %s not found", id)
	}
	next := uint64(0) // the head
	if i+1 < len(all) {
		next = all[i+1].Id
	}
	excl, err := snapExclusive(img, all[i], next)
	if err != nil {
		return 0, 0, err
	}
	if err := img.SetSnapByID(all[i].Id); err != nil {
		return 0, 0, kind(err)
	}
	alloc, err := diff(img, rbd.NoSnapshot)
	return alloc, excl, err
}

// snapExclusive is what only snapshot sn keeps: the objects it holds
// that were overwritten or removed by the snapshot after it (next, or 0
// for the head). Objects first written after sn are not its. It leaves
// the image at the head.
func snapExclusive(img *rbd.Image, sn rbd.SnapInfo, next uint64) (int64, error) {
	if err := setSnap(img, sn.Id); err != nil {
		return 0, err
	}
	held, err := extents(img, rbd.NoSnapshot, false)
	if err != nil {
		return 0, err
	}
	if err := setSnap(img, next); err != nil {
		return 0, err
	}
	end, err := img.GetSize()
	if err != nil {
		return 0, kind(err)
	}
	var changed map[int64]int64
	// Only a deleted volume's image shrinks (to nothing), and Pacific's
	// librbd asserts (aborting the process) in a fast diff towards a
	// smaller size: there the snapshot alone holds all it holds.
	if end >= sn.Size {
		if changed, err = extents(img, sn.Name, true); err != nil {
			return 0, err
		}
	}
	var n int64
	for off, length := range held {
		if _, ok := changed[off]; ok || end < sn.Size {
			n += length
		}
	}
	return n, setSnap(img, 0)
}

// diff sums the extents that exist and changed since from (since
// creation when from is empty) in the image's current snapshot.
func diff(img *rbd.Image, from string) (int64, error) {
	ext, err := extents(img, from, false)
	var n int64
	for _, length := range ext {
		n += length
	}
	return n, err
}

// extents maps the offset of each extent that changed since from (since
// creation when from is empty) in the image's current snapshot to its
// length: the ones that exist, and with removed the ones removed too.
// They are whole objects, so that the object map answers without reading
// data.
func extents(img *rbd.Image, from string, removed bool) (map[int64]int64, error) {
	size, err := img.GetSize()
	if err != nil {
		return nil, kind(err)
	}
	ext := map[int64]int64{}
	if size == 0 {
		// A deleted volume's image: nothing to diff, and Pacific's librbd
		// asserts (aborting the process) on an empty fast diff.
		return ext, nil
	}
	err = img.DiffIterate(rbd.DiffIterateConfig{SnapName: from, Length: size, IncludeParent: rbd.ExcludeParent,
		WholeObject: rbd.EnableWholeObject,
		Callback: func(off, length uint64, exists int, _ interface{}) int {
			if exists != 0 || removed {
				ext[int64(off)] = int64(length)
			}
			return 0
		}})
	if err != nil {
		return nil, fmt.Errorf("diff: %w", kind(err))
	}
	return ext, nil
}

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
	image, snap, err := s.locate(to)
	if err != nil {
		return nil, err
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
	img, err := s.openLocated(image, snap)
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
