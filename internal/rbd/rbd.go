//go:build ceph

// Package rbd keeps volumes on Ceph RBD: the volume service's Backend and
// the NBD server's exports on librbd, in place of the local thin pool.
//
// A volume or clone is an RBD image named by its id (format 2 with
// layering, exclusive-lock, object-map, fast-diff and deep-flatten). A
// snapshot is an RBD snapshot of its volume's image, named by its own id;
// because the volume service addresses snapshots by their id alone, an omap
// index object in the pool maps each snapshot id to its image. Clones are
// RBD clone v2, which needs no protected parent snapshot: removing a parent
// snapshot that clones still use moves it to RBD's trash namespace, where
// librbd removes it with its last clone.
//
// The local pool treats volumes, snapshots and clones as peers that can be
// deleted in any order; RBD ties a snapshot to its image. So deleting a
// volume that still has snapshots keeps its image, marked deleted and
// shrunk to nothing, and the image goes with its last snapshot; an image
// only trash-namespace snapshots keep alive is moved to the RBD trash and
// removed when the clone that held it last goes.
//
// Every step is idempotent: a retried job step finds what a crashed attempt
// made and finishes it.
package rbd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"

	"github.com/stowage/stowage/internal/cephconn"
	"github.com/stowage/stowage/internal/errs"
)

// Options locate the cluster and the pool.
type Options struct {
	// Conf is the path of ceph.conf; the user's keyring is found through it.
	Conf string
	// User is the cephx user, as client.NAME or NAME.
	User string
	// Pool is the RBD pool that holds the volumes.
	Pool string
}

// Store is the volumes of one RBD pool.
type Store struct {
	conn *rados.Conn
	io   *rados.IOContext
	pool string

	// open holds one librbd handle per image (or snapshot) in use by NBD
	// connections: sharing it keeps one cache per image, so a FLUSH on any
	// connection covers the writes of all of them (the NBD server
	// advertises CAN_MULTI_CONN), and the exclusive lock never bounces
	// between handles of the same node.
	mu   sync.Mutex
	open map[string]*handle
}

const (
	// indexObject maps snapshot ids to the images holding them.
	indexObject = "stowage_snapshots"
	// deletedKey marks an image whose volume was deleted while snapshots
	// of it remained.
	deletedKey = "stowage.deleted"
	// parentKey holds a clone's parent image id (see recordParent).
	parentKey = "stowage.parent"
	// madeKey holds a clone's own id once its clone step made it whole;
	// a clone inherits its parent's metadata, whose value names the parent.
	madeKey = "stowage.made"
	// cloneSnapPrefix names the snapshot a clone of a volume (not of a
	// snapshot) is made from; it is removed right after the clone exists.
	cloneSnapPrefix = "stowage-clone."
	// order 22 is RBD's default 4 MiB object.
	order = 22
)

var features = rbd.FeatureLayering | rbd.FeatureExclusiveLock | rbd.FeatureObjectMap |
	rbd.FeatureFastDiff | rbd.FeatureDeepFlatten

// Open connects to the cluster as o.User and opens o.Pool.
func Open(ctx context.Context, o Options) (*Store, error) {
	// A discard must zero partial objects too, since WRITE_ZEROES is served
	// by discard and must read back as zeros.
	conn, io, err := cephconn.Dial(ctx, o.Conf, o.User, o.Pool, map[string]string{"rbd_skip_partial_discard": "false"})
	if err != nil {
		return nil, err
	}
	return &Store{conn: conn, io: io, pool: o.Pool, open: map[string]*handle{}}, nil
}

// Close drops the connection. Exports must be closed first.
func (s *Store) Close() error {
	s.io.Destroy()
	s.conn.Shutdown()
	return nil
}

// kind tells an error from librbd or librados in the service's terms.
func kind(err error) error {
	if err == nil {
		return nil
	}
	switch errno(err) {
	case 2: // ENOENT
		return errs.Wrap(errs.NotExist, "not found in the RBD pool", err)
	case 17: // EEXIST
		return errs.Wrap(errs.Exist, "exists in the RBD pool", err)
	case 16, 39: // EBUSY, ENOTEMPTY
		return errs.Wrap(errs.Conflict, "in use in the RBD pool", err)
	case 28, 122: // ENOSPC, EDQUOT
		return errs.Wrap(errs.NoSpace, "the RBD pool is full", err)
	}
	return err
}

// errno extracts the (positive) errno of a go-ceph error.
func errno(err error) int {
	var e interface{ ErrorCode() int }
	if !errors.As(err, &e) {
		return 0
	}
	if c := e.ErrorCode(); c < 0 {
		return -c
	} else {
		return c
	}
}

func checkID(id string) error {
	if id == "" || len(id) > 200 || strings.ContainsAny(id, "/@") || strings.HasPrefix(id, cloneSnapPrefix) {
		return errs.Field("id", "volume id %q cannot name an RBD image", id)
	}
	return nil
}

// snapshotOf returns the image holding snapshot id, or "" when id is not
// a snapshot.
func (s *Store) snapshotOf(id string) (string, error) {
	vals, err := s.io.GetOmapValues(indexObject, "", id, 2)
	if errors.Is(err, rados.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the snapshot index: %w", err)
	}
	return string(vals[id]), nil
}

// locate returns the image and snapshot ("" for the head) that id, a
// volume or a snapshot, names.
func (s *Store) locate(id string) (image, snap string, err error) {
	held, err := s.snapshotOf(id)
	if err != nil || held == "" {
		return id, "", err
	}
	return held, id, nil
}

// openLocated opens what locate found: a live volume's image, or a
// snapshot read-only; the caller closes it.
func (s *Store) openLocated(image, snap string) (*rbd.Image, error) {
	if snap == "" {
		return s.live(image)
	}
	return s.openImage(image, snap)
}

// openImage opens an image's head for writing or one of its snapshots for
// reading; the caller closes it.
func (s *Store) openImage(name, snap string) (*rbd.Image, error) {
	if snap != "" {
		img, err := rbd.OpenImageReadOnly(s.io, name, snap)
		return img, kind(err)
	}
	img, err := rbd.OpenImage(s.io, name, rbd.NoSnapshot)
	return img, kind(err)
}

// live opens id's image when it exists and its volume was not deleted.
func (s *Store) live(id string) (*rbd.Image, error) {
	img, err := s.openImage(id, "")
	if err != nil {
		return nil, err
	}
	if deleted(img) {
		img.Close()
		return nil, errs.Wrap(errs.NotExist, fmt.Sprintf("volume %s not found", id), errDeleted)
	}
	return img, nil
}

// errDeleted marks the image of a deleted volume that snapshots keep.
var errDeleted = errors.New("the volume was deleted")

func deleted(img *rbd.Image) bool {
	v, err := img.GetMetadata(deletedKey)
	return err == nil && v != ""
}
