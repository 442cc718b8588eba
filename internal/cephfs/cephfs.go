//go:build ceph

// Package cephfs keeps filesystem volumes on CephFS, so that every node of
// a cluster serves them: one directory per volume under /stowage, whose
// byte quota (ceph.quota.max_bytes) is the volume's size and whose file
// limit (ceph.quota.max_files) is the local store's (filestore.MaxInodes).
// Ceph enforces both for every client of the file system; each volume
// also counts its own changes, so that on one node a change beyond the
// quota fails before Ceph's quota, which is checked against what the MDS
// has heard so far, would catch it. Usage is what Ceph counts
// (ceph.dir.rbytes: file contents).
//
// A volume is reached through a libcephfs mount of its own whose root is
// the volume's directory. libcephfs follows symbolic links met inside a
// path, and ".." climbs out of a mount's root, so a path is never handed
// to it with a tenant's names in it: a volume reaches a file one name at
// a time from its root directory, held open, with libcephfs's *at calls
// (ceph_openat, ceph_statxat, ceph_mkdirat, ceph_unlinkat, ...; at.go),
// and renames and links by inode number (ceph_ll_rename, ceph_ll_link),
// as libcephfs has no renameat or linkat.
//
// Why no interleaving with another node's changes leads out of the
// volume: each step looks at one name (never "..", nor one with a
// "/") in a directory it holds open, without following it; a directory
// is then opened without following it (O_NOFOLLOW) and must be the inode
// looked at, so the descriptor held is that of an entry of the directory
// before it at that moment. By induction from the root, every descriptor
// is a directory that was inside the volume when opened, and it stays
// inside: every node moves names only between directories it holds open
// inside one volume, so nothing is moved out of a volume (only Delete
// moves the volume itself, into the trash). Whatever a name is swapped
// for meanwhile, the step through it fails (ELOOP, ENOTDIR or a
// different inode: stale) or reaches an entry of the volume. A file id
// is accepted only when such a walk finds it, from the path this node
// last saw it at or by listing the tree, so another volume's inode number
// is never found; libcephfs's by-number lookup (ceph_ll_lookup_inode) is
// used only for numbers a walk has just proven inside. The paths a
// volume caches are hints, and a per-volume lock only keeps them right
// for this node's own changes. Deleting a volume removes its tree the
// same way, since another node may still be serving it.
//
// Files are addressed by their CephFS inode numbers, the same on every
// node, as the NFS server needs.
package cephfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"

	libcephfs "github.com/ceph/go-ceph/cephfs"
	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/filestore"
)

// Options say which file system to use and as whom.
type Options struct {
	// Conf is the ceph.conf of the cluster; User the cephx user
	// (client.NAME or NAME), which needs mds 'allow rwps fsname=FS'
	// (p for quotas), osd 'allow rw tag cephfs data=FS' and mon 'allow r
	// fsname=FS'.
	Conf, User string
	// FS names the file system; empty is the cluster's default one.
	FS string
}

// top is the directory of the file system that holds the volumes.
const top = "/stowage"

// trashPfx starts the names of volumes being deleted.
const trashPfx = ".trash-"

// Store holds filesystem volumes in one CephFS file system.
type Store struct {
	o     Options
	admin *libcephfs.MountInfo // the file system's root
	mu    sync.Mutex
	vols  map[string]*Volume
	// fresh are mounts made for volumes not yet in vols, whose clients
	// ClientAddrs lists too.
	fresh map[*libcephfs.MountInfo]bool
	// mounted, if set, records a new mount's client (see OnMount).
	mounted func(context.Context) error
}

// OnMount makes f run after each volume's mount, before the volume is
// used: f records ClientAddrs (which includes the new mount) wherever a
// node that fences this one reads them, so that no mount holds
// capabilities unknown to fencing. When f fails the volume is not opened.
// Call it before the store is used.
func (s *Store) OnMount(f func(context.Context) error) { s.mounted = f }

// Open mounts the file system, makes the volumes' directory and finishes
// deletions a crash interrupted.
func Open(ctx context.Context, o Options) (*Store, error) {
	m, err := mount(ctx, o, "/")
	if err != nil {
		return nil, err
	}
	s := &Store{o: o, admin: m, vols: map[string]*Volume{}, fresh: map[*libcephfs.MountInfo]bool{}}
	if err := m.MakeDirs(top, 0o700); err != nil && !errors.Is(errno(err), unix.EEXIST) {
		s.Close()
		return nil, fmt.Errorf("cephfs: make %s: %w", top, errno(err))
	}
	names, err := s.list(top)
	if err != nil {
		s.Close()
		return nil, err
	}
	for _, n := range names {
		if strings.HasPrefix(n, trashPfx) {
			if err := s.removeAll(ctx, path.Join(top, n)); err != nil {
				s.Close()
				return nil, fmt.Errorf("cephfs: finish deleting %s: %w", n, err)
			}
		}
	}
	return s, nil
}

// mount connects as o.User and mounts o.FS at root, failing rather than
// hanging when the cluster does not answer.
func mount(ctx context.Context, o Options, root string) (*libcephfs.MountInfo, error) {
	user := strings.TrimPrefix(o.User, "client.")
	if user == "" || o.Conf == "" {
		return nil, errs.E(errs.Invalid, "cephfs: a ceph.conf and a user are needed")
	}
	m, err := libcephfs.CreateMountWithId(user)
	if err != nil {
		return nil, fmt.Errorf("cephfs: %w", err)
	}
	if err := m.ReadConfigFile(o.Conf); err != nil {
		m.Release()
		return nil, fmt.Errorf("cephfs: read %s: %w", o.Conf, err)
	}
	_ = m.SetConfigOption("client_mount_timeout", "30")
	// Every open volume is a mount with a write-back cache of its own
	// (200 MiB by default): keep each small, so that a node with many
	// volumes open does not hold gigabytes. NFS clients cache too.
	for k, val := range map[string]string{"client_oc_size": "33554432", "client_oc_max_dirty": "16777216"} {
		if err := m.SetConfigOption(k, val); err != nil {
			m.Release()
			return nil, fmt.Errorf("cephfs: set %s: %w", k, err)
		}
	}
	if o.FS != "" {
		if err := m.SelectFilesystem(o.FS); err != nil {
			m.Release()
			return nil, fmt.Errorf("cephfs: select %s: %w", o.FS, err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- m.MountWithRoot(root) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// The mount gives up by itself after client_mount_timeout, and
		// is released then.
		go func() {
			if <-done == nil {
				_ = m.Unmount()
			}
			_ = m.Release()
		}()
		return nil, ctx.Err()
	}
	if err != nil {
		m.Release()
		return nil, fmt.Errorf("cephfs: mount %s of %q as client.%s with %s: %w", root, o.FS, user, o.Conf, errno(err))
	}
	return m, nil
}

func unmount(m *libcephfs.MountInfo) {
	_ = m.Unmount()
	_ = m.Release()
}

func dirOf(id string) string { return path.Join(top, id) }

// Create makes an empty volume with a quota of size bytes. It is
// idempotent, so a retried job finds the volume it made before.
func (s *Store) Create(ctx context.Context, id string, size int64) error {
	if err := filestore.CheckID(id); err != nil {
		return err
	}
	d := dirOf(id)
	if err := s.admin.MakeDir(d, 0o777); err != nil && !errors.Is(errno(err), unix.EEXIST) {
		return fmt.Errorf("cephfs: create %s: %w", id, errno(err))
	}
	// The top directory is open to every user, sticky as /tmp is, as on
	// the local store.
	if err := s.admin.Chmod(d, 0o777|unix.S_ISVTX); err != nil {
		return fmt.Errorf("cephfs: create %s: %w", id, errno(err))
	}
	return s.setQuota(id, size)
}

// setQuota sets the volume's byte quota and its file limit. Ceph counts
// the volume's own directory among its files.
func (s *Store) setQuota(id string, size int64) error {
	d := dirOf(id)
	for _, q := range []struct {
		name string
		v    int64
	}{{"ceph.quota.max_bytes", size}, {"ceph.quota.max_files", filestore.MaxInodes(size) + 1}} {
		if err := s.admin.SetXattr(d, q.name, []byte(strconv.FormatInt(q.v, 10)), 0); err != nil {
			return fmt.Errorf("cephfs: set %s of %s: %w", q.name, id, errno(err))
		}
	}
	return nil
}

// quota reads the volume's byte quota; a volume that is not there is
// errs.NotExist.
func (s *Store) quota(id string) (int64, error) {
	return xattrInt(s.admin, dirOf(id), "ceph.quota.max_bytes")
}

func xattrInt(m *libcephfs.MountInfo, p, name string) (int64, error) {
	b, err := m.GetXattr(p, name)
	if err != nil {
		if errors.Is(errno(err), unix.ENOENT) {
			return 0, errs.E(errs.NotExist, "filesystem volume not found")
		}
		return 0, fmt.Errorf("cephfs: %s of %s: %w", name, p, errno(err))
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cephfs: %s of %s: %w", name, p, err)
	}
	return v, nil
}

// Grow raises a volume's quota; open volumes see it at once, other
// nodes' clients when the MDS tells them.
func (s *Store) Grow(ctx context.Context, id string, size int64) error {
	if err := filestore.CheckID(id); err != nil {
		return err
	}
	cur, err := s.quota(id)
	if err != nil {
		return err
	}
	if size < cur {
		return errs.E(errs.Invalid, "cephfs: %s: quota only grows (%d < %d)", id, size, cur)
	}
	if err := s.setQuota(id, size); err != nil {
		return err
	}
	s.mu.Lock()
	v := s.vols[id]
	s.mu.Unlock()
	if v != nil {
		v.mu.Lock()
		v.quota, v.maxFiles = size, filestore.MaxInodes(size)
		v.mu.Unlock()
	}
	return nil
}

// Delete removes a volume and all its files. The directory is first
// renamed away in one step, so a crash leaves either the volume or
// trash that Open removes.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := filestore.CheckID(id); err != nil {
		return err
	}
	s.mu.Lock()
	if v := s.vols[id]; v != nil {
		// An unmount takes a couple of seconds (its caps go back to
		// the MDS); nothing waits for this one's.
		go v.close()
		delete(s.vols, id)
	}
	s.mu.Unlock()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	trash := path.Join(top, trashPfx+id+"-"+hex.EncodeToString(b))
	if err := s.admin.Rename(dirOf(id), trash); err != nil {
		if errors.Is(errno(err), unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("cephfs: delete %s: %w", id, errno(err))
	}
	if err := s.removeAll(ctx, trash); err != nil {
		return fmt.Errorf("cephfs: delete %s: %w", id, err)
	}
	return nil
}

// list names the entries of directory p, "." and ".." left out.
func (s *Store) list(p string) ([]string, error) {
	ents, err := readDir(s.admin, p)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.name
	}
	return names, nil
}

// removeAll removes the tree at p, a name in one of the store's own
// directories. A deleted volume's tree may still be changing through
// another node's open mount, so it is walked as Volume.walk walks: one
// name at a time from an open directory, never through a symbolic link.
func (s *Store) removeAll(ctx context.Context, p string) error {
	parent, err := s.admin.Open(path.Dir(p), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return errno(err)
	}
	defer parent.Close()
	return removeTree(ctx, s.admin, fdOf(parent), path.Base(p))
}

// removeTree removes name from directory dir, and all it holds.
func removeTree(ctx context.Context, m *libcephfs.MountInfo, dir int, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := statAt(m, dir, name)
	if err != nil {
		return ignoreGone(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return ignoreGone(unlinkAt(m, dir, name, 0))
	}
	fd, err := openChecked(m, dir, name, unix.O_RDONLY|unix.O_DIRECTORY, st.Ino)
	if err != nil {
		return ignoreGone(err)
	}
	ents, err := listFD(m, fd)
	for _, e := range ents {
		if err = removeTree(ctx, m, fd, e.name); err != nil {
			break
		}
	}
	closeFD(m, fd)
	if err != nil {
		return ignoreGone(err)
	}
	return ignoreGone(unlinkAt(m, dir, name, unix.AT_REMOVEDIR))
}

func ignoreGone(err error) error {
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// Usage returns the bytes a volume's files hold, as Ceph counts them
// (ceph.dir.rbytes), and its quota.
func (s *Store) Usage(ctx context.Context, id string) (used, quota int64, err error) {
	if err := filestore.CheckID(id); err != nil {
		return 0, 0, err
	}
	if quota, err = s.quota(id); err != nil {
		return 0, 0, err
	}
	used, err = xattrInt(s.admin, dirOf(id), "ceph.dir.rbytes")
	return used, quota, err
}

// Volume opens a volume, with a mount of its own rooted at its directory.
func (s *Store) Volume(ctx context.Context, id string) (*Volume, error) {
	if err := filestore.CheckID(id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	v := s.vols[id]
	s.mu.Unlock()
	if v != nil {
		return v, nil
	}
	if _, err := s.quota(id); err != nil {
		return nil, err
	}
	// Mounting talks to the cluster: other volumes stay usable meanwhile.
	m, err := mount(ctx, s.o, dirOf(id))
	if err != nil {
		return nil, fmt.Errorf("cephfs: open %s: %w", id, err)
	}
	if s.mounted != nil {
		s.mu.Lock()
		s.fresh[m] = true
		s.mu.Unlock()
		err = s.mounted(ctx)
		if err != nil {
			s.mu.Lock()
			delete(s.fresh, m)
			s.mu.Unlock()
			unmount(m)
			return nil, fmt.Errorf("cephfs: open %s: record the mount's client: %w", id, err)
		}
	}
	if v, err = openVolume(m); err != nil {
		s.mu.Lock()
		delete(s.fresh, m)
		s.mu.Unlock()
		unmount(m)
		return nil, fmt.Errorf("cephfs: open %s: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.fresh, m)
	if won := s.vols[id]; won != nil {
		go v.close() // another call opened it first
		return won, nil
	}
	s.vols[id] = v
	return v, nil
}

// ClientAddrs are the addresses of the store's Ceph clients: the file
// system's mount and each open volume's. Fencing a node blocklists them
// all, which makes the MDS drop their sessions and the capabilities they
// hold at once rather than after the session timeout.
func (s *Store) ClientAddrs() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := make([]*libcephfs.MountInfo, 0, len(s.vols)+1)
	if s.admin != nil {
		ms = append(ms, s.admin)
	}
	for _, v := range s.vols {
		ms = append(ms, v.m)
	}
	for m := range s.fresh {
		ms = append(ms, m)
	}
	addrs := make([]string, 0, len(ms))
	for _, m := range ms {
		a, err := clientAddr(m)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// Close unmounts every open volume, all at once since each takes a
// couple of seconds, and the file system.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var wg sync.WaitGroup
	for id, v := range s.vols {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.close()
		}()
		delete(s.vols, id)
	}
	wg.Wait()
	if s.admin != nil {
		unmount(s.admin)
		s.admin = nil
	}
	return nil
}

// errno turns a libcephfs error into the unix.Errno it carries, and a
// quota error into filestore's, so that callers see what the local
// store returns.
func errno(err error) error {
	var c interface{ ErrorCode() int }
	if err == nil || !errors.As(err, &c) {
		return err
	}
	e := unix.Errno(-c.ErrorCode())
	if c.ErrorCode() > 0 {
		e = unix.Errno(c.ErrorCode())
	}
	if e == unix.EDQUOT {
		return filestore.ErrQuota
	}
	return e
}
