//go:build ceph

package rbd

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"

	"github.com/stowage/stowage/internal/errs"
)

// PoolStats is what the pool holds, as RBD itself accounts it.
type PoolStats struct {
	ObjectSize int64
	// Images counts volumes, clones and the images deleted volumes leave
	// for their snapshots or clones (those in the RBD trash too).
	Images    int64
	Snapshots int64
	// UsedBytes is the RBD objects the images' heads hold plus those only
	// a snapshot keeps, from the object maps.
	UsedBytes int64
	// CapacityBytes and FreeBytes are the cluster's; zero when it cannot
	// say (they come from the mgr).
	CapacityBytes, FreeBytes int64
}

// PoolStats walks the pool's images: it costs one object-map read per
// image and snapshot and is meant for the operator, not for requests.
func (s *Store) PoolStats(ctx context.Context) (PoolStats, error) {
	st := PoolStats{ObjectSize: 1 << order}
	if cs, err := s.conn.GetClusterStats(); err == nil {
		st.CapacityBytes, st.FreeBytes = int64(cs.Kb)*1024, int64(cs.Kb_avail)*1024
	}
	opens, err := s.images()
	if err != nil {
		return PoolStats{}, err
	}
	for _, open := range opens {
		used, ok, err := openUsed(ctx, open)
		if err != nil {
			return PoolStats{}, err
		}
		if ok {
			st.Images++
			st.UsedBytes += used
		}
	}
	index, err := s.io.GetAllOmapValues(indexObject, "", "", 1000)
	if err != nil && !errors.Is(err, rados.ErrNotFound) {
		return PoolStats{}, fmt.Errorf("read the snapshot index: %w", err)
	}
	st.Snapshots = int64(len(index))
	return st, nil
}

// images lists the pool's images, those in the RBD trash too, each as a
// function that opens it.
func (s *Store) images() ([]func() (*rbd.Image, error), error) {
	names, err := rbd.GetImageNames(s.io)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", kind(err))
	}
	trash, err := rbd.GetTrashList(s.io)
	if err != nil {
		return nil, fmt.Errorf("list the RBD trash: %w", kind(err))
	}
	var opens []func() (*rbd.Image, error)
	for _, n := range names {
		opens = append(opens, func() (*rbd.Image, error) { return s.openImage(n, "") })
	}
	for _, e := range trash {
		opens = append(opens, func() (*rbd.Image, error) { return rbd.OpenImageById(s.io, e.Id, rbd.NoSnapshot) })
	}
	return opens, nil
}

// openUsed opens an image and sums what it holds (see imageUsed); ok is
// false for an image removed meanwhile. Jobs keep running while the
// operator asks, so a snapshot of the image may go between the listing of
// its snapshots and the diff that reads one: then the image is read
// again, a few times before that counts as an error.
func openUsed(ctx context.Context, open func() (*rbd.Image, error)) (used int64, ok bool, err error) {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return 0, false, err
		}
		img, err := open()
		if errno(err) == 2 {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		used, err := imageUsed(img)
		img.Close()
		if errs.Is(err, errs.NotExist) && attempt < 4 {
			continue
		}
		return used, err == nil, err
	}
}

// imageUsed sums an image's head objects and, for each snapshot, the
// objects only it keeps.
func imageUsed(img *rbd.Image) (int64, error) {
	used, err := diff(img, rbd.NoSnapshot)
	if err != nil {
		return 0, err
	}
	snaps, err := userSnapInfos(img)
	if err != nil {
		return 0, err
	}
	for i, sn := range snaps {
		next := uint64(0) // the head
		if i+1 < len(snaps) {
			next = snaps[i+1].Id
		}
		n, err := snapExclusive(img, sn, next)
		if err != nil {
			return 0, err
		}
		used += n
	}
	return used, nil
}

// setSnap points an open image at a snapshot, or at the head for 0.
func setSnap(img *rbd.Image, id uint64) error {
	if id == 0 {
		return kind(img.SetSnapshot(rbd.NoSnapshot))
	}
	return kind(img.SetSnapByID(id))
}

// userSnapInfos lists an image's user-namespace snapshots, oldest first.
func userSnapInfos(img *rbd.Image) ([]rbd.SnapInfo, error) {
	all, err := img.GetSnapshotNames()
	if err != nil {
		return nil, kind(err)
	}
	var out []rbd.SnapInfo
	for _, sn := range all {
		ns, err := img.GetSnapNamespaceType(sn.Id)
		if err != nil {
			return nil, kind(err)
		}
		if ns == rbd.SnapNamespaceTypeUser {
			out = append(out, sn)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	return out, nil
}

// Check reports the snapshot index entries RBD does not back: a snapshot
// job still in flight, or one that crashed and was not retried.
func (s *Store) Check(ctx context.Context) (images int, problems []string, err error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	// The images are counted, not walked as PoolStats walks them (an
	// object-map diff of every image and snapshot): fsck needs only the
	// count, and it runs while jobs remove snapshots.
	opens, err := s.images()
	if err != nil {
		return 0, nil, err
	}
	index, err := s.io.GetAllOmapValues(indexObject, "", "", 1000)
	if err != nil && !errors.Is(err, rados.ErrNotFound) {
		return 0, nil, fmt.Errorf("read the snapshot index: %w", err)
	}
	keys := make([]string, 0, len(index))
	for k := range index {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, snap := range keys {
		image := string(index[snap])
		img, err := s.openImage(image, snap)
		if err != nil {
			problems = append(problems, fmt.Sprintf("snapshot %s is recorded on image %s, which lacks it: %v", snap, image, err))
			continue
		}
		img.Close()
	}
	return len(opens), problems, nil
}

// Ping asks the pool for one object's status, which needs the monitors
// and the OSD holding it: the cheap question readiness checks ask every
// few hundred milliseconds. A missing object is an answer too.
func (s *Store) Ping(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		_, err := s.io.Stat("rbd_directory")
		if errors.Is(err, rados.ErrNotFound) {
			err = nil
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("ceph pool: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ceph pool: %w", ctx.Err())
	}
}
