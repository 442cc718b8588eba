//go:build ceph

package cephfs

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	libcephfs "github.com/ceph/go-ceph/cephfs"
	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/internal/filestore"
)

// resync is how long a volume trusts the usage it counts before asking
// Ceph again, which sees what other nodes changed.
const resync = 2 * time.Second

// Volume is one open filesystem volume. Files are named by inode number;
// a cache maps the numbers in use to paths, and a miss (after a restart,
// or for a file another node made) walks the tree once to find it.
type Volume struct {
	m       *libcephfs.MountInfo // rooted at the volume's directory
	root    *libcephfs.File      // its top directory, open for *at calls
	rootIno uint64

	// tree orders changes to names made here (held exclusively) with
	// finding files by name (shared), so that the paths cached here stay
	// right. It is no defence against other nodes: that is walk's.
	tree sync.RWMutex

	// mu orders what changes the volume's size, so that the usage it
	// counts is exact for this node's changes.
	mu       sync.Mutex
	quota    int64
	maxFiles int64
	used     int64 // bytes of file contents, as ceph.dir.rbytes counts
	inodes   int64
	synced   time.Time
	changed  time.Time // of the last change made here

	paths filestore.Paths
}

func openVolume(m *libcephfs.MountInfo) (*Volume, error) {
	if err := layoutOK(); err != nil {
		return nil, err
	}
	// "/" is the mount's root: no name on the way to follow.
	root, err := m.Open("/", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, errno(err)
	}
	st, err := fstat(root)
	if err != nil {
		root.Close()
		return nil, err
	}
	v := &Volume{m: m, root: root, rootIno: st.Ino}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.sync(true); err != nil {
		root.Close()
		return nil, err
	}
	return v, nil
}

func (v *Volume) close() {
	v.root.Close()
	unmount(v.m)
}

// sync reads the quota and the usage from Ceph when the last reading is
// older than resync (or always, with force). Shortly after a change made
// here the usage only goes up by what Ceph says, since the change may not
// have reached the MDS yet; once the volume has been quiet here for a
// while, Ceph's count, which includes other nodes' changes, is taken as
// it is. The caller holds mu.
func (v *Volume) sync(force bool) error {
	if !force && time.Since(v.synced) < resync {
		return nil
	}
	var vals [5]int64
	for i, name := range []string{"ceph.quota.max_bytes", "ceph.quota.max_files", "ceph.dir.rbytes", "ceph.dir.rfiles", "ceph.dir.rsubdirs"} {
		n, err := xattrInt(v.m, "/", name)
		if err != nil {
			return err
		}
		vals[i] = n
	}
	// rsubdirs and max_files count the volume's own directory.
	used, inodes := vals[2], vals[3]+vals[4]-1
	if force || time.Since(v.changed) > 2*resync {
		v.used, v.inodes = used, inodes
	} else {
		v.used, v.inodes = max(v.used, used), max(v.inodes, inodes)
	}
	v.quota, v.maxFiles, v.synced = vals[0], vals[1]-1, time.Now()
	return nil
}

// admit says whether bytes and inodes more fit; the caller holds mu and
// charges what it then makes.
func (v *Volume) admit(bytes, inodes int64) error {
	if err := v.sync(false); err != nil {
		return err
	}
	if bytes > 0 && v.used+bytes > v.quota {
		return filestore.ErrQuota
	}
	if inodes > 0 && v.inodes+inodes > v.maxFiles {
		return filestore.ErrInodes
	}
	return nil
}

// Root is the file id of the volume's top directory.
func (v *Volume) Root() uint64 { return v.rootIno }

// Quota returns the quota and the bytes used.
func (v *Volume) Quota() (quota, used int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	_ = v.sync(false)
	return v.quota, v.used
}

// Space returns the volume's size and what is left of it.
func (v *Volume) Space() filestore.Space {
	v.mu.Lock()
	defer v.mu.Unlock()
	_ = v.sync(false)
	return filestore.Space{Bytes: v.quota, FreeBytes: max(v.quota-v.used, 0), Files: v.maxFiles, FreeFiles: max(v.maxFiles-v.inodes, 0)}
}

func toStat(sx *libcephfs.CephStatx) unix.Stat_t {
	return unix.Stat_t{Ino: uint64(sx.Inode), Nlink: uint64(sx.Nlink), Mode: uint32(sx.Mode), Uid: sx.Uid, Gid: sx.Gid,
		Rdev: sx.Rdev, Size: int64(sx.Size), Blksize: int64(sx.Blksize), Blocks: int64(sx.Blocks),
		Atim: unix.Timespec(sx.Atime), Mtim: unix.Timespec(sx.Mtime), Ctim: unix.Timespec(sx.Ctime)}
}

// walk opens the volume's directory p one name at a time from its root:
// each name is looked at without following it and must be a directory,
// then is opened without following it and must be the directory looked
// at. No symbolic link is followed, and "." and ".." never occur (paths
// are made of names filestore.CheckName or a listing gave), so what walk
// opens is a directory of the volume whatever other nodes do meanwhile
// (see the package doc). The caller releases the descriptor.
func (v *Volume) walk(p string) (int, error) {
	fd := fdOf(v.root)
	if p == "/" {
		return fd, nil
	}
	for _, name := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		st, err := statAt(v.m, fd, name)
		if err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			err = unix.ENOTDIR
		}
		next := -1
		if err == nil {
			next, err = openChecked(v.m, fd, name, unix.O_RDONLY|unix.O_DIRECTORY, st.Ino)
		}
		v.release(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

// release closes a descriptor walk gave, unless it is the root's.
func (v *Volume) release(fd int) {
	if fd != fdOf(v.root) {
		closeFD(v.m, fd)
	}
}

// openChecked opens name in directory dir without following it, and
// only if it is inode ino.
func openChecked(m *libcephfs.MountInfo, dir int, name string, flags int, ino uint64) (int, error) {
	fd, err := openAt(m, dir, name, flags|unix.O_NOFOLLOW, 0)
	if err != nil {
		return -1, err
	}
	st, err := fstatFD(m, fd)
	if err == nil && st.Ino != ino {
		err = filestore.ErrStale
	}
	if err != nil {
		closeFD(m, fd)
		return -1, err
	}
	return fd, nil
}

// walkTo walks to directory p, which must be inode ino.
func (v *Volume) walkTo(p string, ino uint64) (int, error) {
	fd, err := v.walk(p)
	if err != nil {
		return -1, err
	}
	st, err := fstatFD(v.m, fd)
	if err == nil && st.Ino != ino {
		err = filestore.ErrStale
	}
	if err != nil {
		v.release(fd)
		return -1, err
	}
	return fd, nil
}

// at opens, as walk does, the directory holding the volume's path p
// (not "/"), and returns it with p's last name.
func (v *Volume) at(p string) (int, string, error) {
	fd, err := v.walk(path.Dir(p))
	return fd, path.Base(p), err
}

// lstat stats the volume's path p, following no symbolic link.
func (v *Volume) lstat(p string) (unix.Stat_t, error) {
	if p == "/" {
		return fstat(v.root)
	}
	fd, name, err := v.at(p)
	if err != nil {
		return unix.Stat_t{}, err
	}
	defer v.release(fd)
	return statAt(v.m, fd, name)
}

func fstat(f *libcephfs.File) (unix.Stat_t, error) {
	sx, err := f.Fstatx(libcephfs.StatxBasicStats, 0)
	if err != nil {
		return unix.Stat_t{}, errno(err)
	}
	return toStat(sx), nil
}

// entry is one name in a directory.
type entry struct {
	name string
	st   unix.Stat_t
}

// readDir lists directory p in its order, "." and ".." left out. p must
// hold no tenant's names: only the store's own directories are listed so.
func readDir(m *libcephfs.MountInfo, p string) ([]entry, error) {
	d, err := m.OpenDir(p)
	if err != nil {
		return nil, errno(err)
	}
	return listDir(d)
}

// listDir lists d and closes it.
func listDir(d *libcephfs.Directory) ([]entry, error) {
	defer d.Close()
	var out []entry
	for {
		e, err := d.ReadDirPlus(libcephfs.StatxBasicStats, libcephfs.AtSymlinkNofollow)
		if err != nil {
			return nil, errno(err)
		}
		if e == nil {
			return out, nil
		}
		if n := e.Name(); n != "." && n != ".." {
			out = append(out, entry{name: n, st: toStat(e.Statx())})
		}
	}
}

// path finds the file id's current path, checking the cached one first.
// The caller holds tree.
func (v *Volume) path(ctx context.Context, ino uint64) (string, unix.Stat_t, error) {
	if ino == v.rootIno {
		st, err := fstat(v.root)
		return "/", st, err
	}
	p, ok := v.paths.Get(ino)
	if ok {
		if st, err := v.lstat(p); err == nil && st.Ino == ino {
			return p, st, nil
		}
	}
	p, st, err := v.find(ctx, fdOf(v.root), "/", ino)
	if err != nil {
		return "", unix.Stat_t{}, err
	}
	if p == "" {
		v.paths.Forget(ino)
		return "", unix.Stat_t{}, filestore.ErrStale
	}
	v.paths.Remember(ino, p)
	return p, st, nil
}

// find walks the tree under directory dir (open as fd) for ino, as walk
// does: never into a symbolic link, so only inside the volume.
func (v *Volume) find(ctx context.Context, fd int, dir string, ino uint64) (string, unix.Stat_t, error) {
	ents, err := listFD(v.m, fd)
	if errors.Is(err, unix.ENOENT) {
		return "", unix.Stat_t{}, nil // removed while walking
	}
	if err != nil {
		return "", unix.Stat_t{}, err
	}
	for _, e := range ents {
		if e.st.Ino == ino {
			return path.Join(dir, e.name), e.st, nil
		}
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return "", unix.Stat_t{}, err
		}
		if e.st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		sub, err := openChecked(v.m, fd, e.name, unix.O_RDONLY|unix.O_DIRECTORY, e.st.Ino)
		if err != nil {
			continue // changed since listed: not where ino is now
		}
		p, st, err := v.find(ctx, sub, path.Join(dir, e.name), ino)
		closeFD(v.m, sub)
		if p != "" || err != nil {
			return p, st, err
		}
	}
	return "", unix.Stat_t{}, nil
}

// open opens the file id with flags, checking that what it opened is
// that file. The caller holds tree.
func (v *Volume) open(ctx context.Context, ino uint64, flags int) (*libcephfs.File, string, unix.Stat_t, error) {
	p, _, err := v.path(ctx, ino)
	if err != nil {
		return nil, "", unix.Stat_t{}, err
	}
	dir, name := fdOf(v.root), "."
	if p != "/" {
		if dir, name, err = v.at(p); err != nil {
			return nil, "", unix.Stat_t{}, err
		}
		defer v.release(dir)
	}
	fd, err := openChecked(v.m, dir, name, flags, ino)
	if errors.Is(err, filestore.ErrStale) {
		v.paths.Forget(ino)
	}
	if err != nil {
		return nil, "", unix.Stat_t{}, err
	}
	f := asFile(v.m, fd)
	st, err := fstat(f)
	if err != nil {
		f.Close()
		return nil, "", unix.Stat_t{}, err
	}
	return f, p, st, nil
}

// openShared is open under tree, for I/O that goes on without it: the
// descriptor stays with its file whatever becomes of its names.
func (v *Volume) openShared(ctx context.Context, ino uint64, flags int) (*libcephfs.File, unix.Stat_t, error) {
	v.tree.RLock()
	defer v.tree.RUnlock()
	f, _, st, err := v.open(ctx, ino, flags)
	return f, st, err
}

// dir finds a directory by id. The caller holds tree.
func (v *Volume) dir(ctx context.Context, ino uint64) (string, error) {
	p, st, err := v.path(ctx, ino)
	if err != nil {
		return "", err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "", unix.ENOTDIR
	}
	return p, nil
}

// child is the path of name in directory dir. The caller holds tree.
func (v *Volume) child(ctx context.Context, dir uint64, name string) (string, error) {
	if err := filestore.CheckName(name); err != nil {
		return "", err
	}
	dp, err := v.dir(ctx, dir)
	if err != nil {
		return "", err
	}
	return path.Join(dp, name), nil
}

// Stat returns a file's attributes.
func (v *Volume) Stat(ctx context.Context, ino uint64) (unix.Stat_t, error) {
	v.tree.RLock()
	defer v.tree.RUnlock()
	_, st, err := v.path(ctx, ino)
	return st, err
}

// Lookup finds name in directory dir; "." and ".." are understood.
func (v *Volume) Lookup(ctx context.Context, dir uint64, name string) (unix.Stat_t, error) {
	v.tree.RLock()
	defer v.tree.RUnlock()
	p, st, err := v.path(ctx, dir)
	if err != nil {
		return st, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unix.Stat_t{}, unix.ENOTDIR
	}
	switch name {
	case ".":
		return st, nil
	case "..":
		return v.lstat(path.Dir(p))
	}
	if err := filestore.CheckName(name); err != nil {
		return unix.Stat_t{}, err
	}
	fd, err := v.walkTo(p, dir)
	if err != nil {
		return unix.Stat_t{}, err
	}
	defer v.release(fd)
	cst, err := statAt(v.m, fd, name)
	if err != nil {
		return cst, err
	}
	v.paths.Remember(cst.Ino, path.Join(p, name))
	return cst, nil
}

// Read fills b from offset off and reports whether it reached the end,
// and the file's attributes after the read.
func (v *Volume) Read(ctx context.Context, ino uint64, off int64, b []byte) (int, bool, unix.Stat_t, error) {
	f, st, err := v.openShared(ctx, ino, unix.O_RDONLY)
	if err != nil {
		return 0, false, st, err
	}
	defer f.Close()
	n := 0
	for n < len(b) {
		m, err := f.ReadAt(b[n:], off+int64(n))
		if err == io.EOF || err == nil && m == 0 {
			break
		}
		if err != nil {
			return n, false, st, errno(err)
		}
		n += m
	}
	if st, err = fstat(f); err != nil {
		return n, false, st, err
	}
	return n, off+int64(n) >= st.Size, st, nil
}

// Write stores b at off. A write that would take the volume beyond its
// quota writes nothing and returns filestore.ErrQuota.
func (v *Volume) Write(ctx context.Context, ino uint64, off int64, b []byte, sync bool) (before, after unix.Stat_t, err error) {
	f, before, err := v.openShared(ctx, ino, unix.O_WRONLY)
	if err != nil {
		return before, after, err
	}
	defer f.Close()
	end := off + int64(len(b))
	if end <= before.Size {
		err = writeAll(f, b, off)
	} else {
		err = v.grow(f, &before, func() error { return writeAll(f, b, off) }, end)
	}
	if err == nil && sync {
		err = errno(f.Fsync(libcephfs.SyncDataOnly))
	}
	after, serr := fstat(f)
	if err == nil {
		err = serr
	}
	return before, after, err
}

func writeAll(f *libcephfs.File, b []byte, off int64) error {
	for n := 0; n < len(b); {
		m, err := f.WriteAt(b[n:], off+int64(n))
		if err != nil {
			return errno(err)
		}
		if m == 0 {
			return io.ErrShortWrite
		}
		n += m
	}
	return nil
}

// grow runs op, which may change the file's size to at most end, under
// mu, checking the quota first and charging the real change after.
func (v *Volume) grow(f *libcephfs.File, before *unix.Stat_t, op func() error, end int64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	st, err := fstat(f)
	if err != nil {
		return err
	}
	*before = st
	if err := v.admit(end-before.Size, 0); err != nil {
		return err
	}
	err = op()
	if st, serr := fstat(f); serr == nil {
		v.used += st.Size - before.Size
	}
	v.changed = time.Now()
	return err
}

// Commit flushes a file's data and metadata to the cluster.
func (v *Volume) Commit(ctx context.Context, ino uint64) error {
	f, _, err := v.openShared(ctx, ino, unix.O_RDONLY)
	if err != nil {
		return err
	}
	defer f.Close()
	return errno(f.Fsync(libcephfs.SyncAll))
}

// modeMask keeps the permission bits a tenant may set: never setuid or
// setgid, as on the local store.
const modeMask = 0o1777

// noID leaves an owner or group as it is in chown.
const noID = ^uint32(0)

// SetAttr applies a. It returns the attributes before and after.
func (v *Volume) SetAttr(ctx context.Context, ino uint64, a filestore.SetAttr) (before, after unix.Stat_t, err error) {
	v.tree.RLock()
	defer v.tree.RUnlock()
	p, before, err := v.path(ctx, ino)
	if err != nil {
		return before, after, err
	}
	isLink := before.Mode&unix.S_IFMT == unix.S_IFLNK
	if a.Size != nil {
		if before.Mode&unix.S_IFMT != unix.S_IFREG || *a.Size < 0 {
			return before, before, unix.EINVAL
		}
		f, _, _, err := v.open(ctx, ino, unix.O_WRONLY)
		if err != nil {
			return before, before, err
		}
		var st unix.Stat_t
		err = v.grow(f, &st, func() error { return errno(f.Truncate(*a.Size)) }, *a.Size)
		f.Close()
		if err != nil {
			return before, before, err
		}
	}
	if a.Mode != nil && !isLink {
		if err := v.onFile(ctx, ino, before, func(f *libcephfs.File) error { return f.Fchmod(*a.Mode & modeMask) }); err != nil {
			return before, before, err
		}
	}
	if a.UID != nil || a.GID != nil {
		uid, gid := noID, noID
		if a.UID != nil {
			uid = *a.UID
		}
		if a.GID != nil {
			gid = *a.GID
		}
		if isLink {
			err = v.onName(p, func(dir int, name string) error { return chownAt(v.m, dir, name, uid, gid) })
		} else {
			err = v.onFile(ctx, ino, before, func(f *libcephfs.File) error { return f.Fchown(uid, gid) })
		}
		if err != nil {
			return before, before, err
		}
	}
	if (a.Atime != nil || a.Mtime != nil) && !isLink {
		if err := v.setTimes(ctx, ino, before, a.Atime, a.Mtime); err != nil {
			return before, before, err
		}
	}
	_, after, err = v.path(ctx, ino)
	return before, after, err
}

// onFile runs op on file ino (not a symbolic link), open.
func (v *Volume) onFile(ctx context.Context, ino uint64, st unix.Stat_t, op func(*libcephfs.File) error) error {
	flags := unix.O_RDONLY
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		flags |= unix.O_DIRECTORY
	}
	f, _, _, err := v.open(ctx, ino, flags)
	if err != nil {
		return err
	}
	defer f.Close()
	return errno(op(f))
}

// onName runs op on the volume's path p (not "/") as the directory
// holding it, open as walk opens it, and its last name.
func (v *Volume) onName(p string, op func(dir int, name string) error) error {
	dir, name, err := v.at(p)
	if err != nil {
		return err
	}
	defer v.release(dir)
	return op(dir, name)
}

// setTimes sets the access and modification times: nil keeps one, a
// zero time is now. libcephfs has no UTIME_OMIT or UTIME_NOW, so both
// are given.
func (v *Volume) setTimes(ctx context.Context, ino uint64, st unix.Stat_t, atime, mtime *time.Time) error {
	return v.onFile(ctx, ino, st, func(f *libcephfs.File) error { return v.setFileTimes(f, st, atime, mtime) })
}

func (v *Volume) setFileTimes(f *libcephfs.File, st unix.Stat_t, atime, mtime *time.Time) error {
	now := time.Now()
	ts := []libcephfs.Timespec{libcephfs.Timespec(st.Atim), libcephfs.Timespec(st.Mtim)}
	for i, t := range []*time.Time{atime, mtime} {
		switch {
		case t == nil:
		case t.IsZero():
			ts[i] = libcephfs.Timespec(unix.NsecToTimespec(now.UnixNano()))
		default:
			ts[i] = libcephfs.Timespec(unix.NsecToTimespec(t.UnixNano()))
		}
	}
	return errno(v.m.Futimens(fdOf(f), ts))
}

// Create makes (or, Unchecked, opens) a regular file in dir; a file it
// makes belongs to own.
func (v *Volume) Create(ctx context.Context, dir uint64, name string, mode uint32, how filestore.CreateMode, verf [8]byte, own *filestore.Owner) (unix.Stat_t, error) {
	var st unix.Stat_t
	v.tree.Lock()
	defer v.tree.Unlock()
	p, err := v.child(ctx, dir, name)
	if err != nil {
		return st, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	dirFD, base, err := v.at(p)
	if err != nil {
		return st, err
	}
	defer v.release(dirFD)
	existing, lerr := statAt(v.m, dirFD, base)
	if lerr == nil {
		switch how {
		case filestore.Guarded:
			return existing, unix.EEXIST
		case filestore.Exclusive:
			if existing.Mode&unix.S_IFMT == unix.S_IFREG && existing.Atim.Sec == int64(binary.BigEndian.Uint32(verf[:4])) && existing.Mtim.Sec == int64(binary.BigEndian.Uint32(verf[4:])) {
				v.paths.Remember(existing.Ino, p)
				return existing, nil
			}
			return existing, unix.EEXIST
		}
		if existing.Mode&unix.S_IFMT != unix.S_IFREG {
			// open(2) with O_NOFOLLOW on a symlink is ELOOP; a directory
			// cannot be opened for writing.
			if existing.Mode&unix.S_IFMT == unix.S_IFDIR {
				return existing, unix.EISDIR
			}
			return existing, unix.ELOOP
		}
		v.paths.Remember(existing.Ino, p)
		return existing, nil
	}
	if err := v.admit(0, 1); err != nil {
		return st, err
	}
	fd, err := openAt(v.m, dirFD, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW, mode&modeMask)
	if err != nil {
		return st, err
	}
	f := asFile(v.m, fd)
	defer f.Close()
	v.inodes++
	v.changed = time.Now()
	// The mode exactly as asked: libcephfs applies a umask of its own.
	if err := f.Fchmod(mode & modeMask); err != nil {
		return st, errno(err)
	}
	if own != nil {
		if err := f.Fchown(own.UID, own.GID); err != nil {
			return st, errno(err)
		}
	}
	if how == filestore.Exclusive {
		// The verifier is kept in the times until the client sets them,
		// so a retransmitted create can be recognised.
		ts := []libcephfs.Timespec{{Sec: int64(binary.BigEndian.Uint32(verf[:4]))}, {Sec: int64(binary.BigEndian.Uint32(verf[4:]))}}
		if err := v.m.Futimens(fdOf(f), ts); err != nil {
			return st, errno(err)
		}
	}
	if st, err = fstat(f); err != nil {
		return st, err
	}
	v.paths.Remember(st.Ino, p)
	return st, nil
}

// Mkdir makes a directory in dir that belongs to own.
func (v *Volume) Mkdir(ctx context.Context, dir uint64, name string, mode uint32, own *filestore.Owner) (unix.Stat_t, error) {
	return v.make(ctx, dir, name, own, 0, 1, func(dir int, name string) error {
		if err := mkdirAt(v.m, dir, name, mode&modeMask); err != nil {
			return err
		}
		return chmodAt(v.m, dir, name, mode&modeMask)
	})
}

// Symlink makes a symbolic link that belongs to own; its target is never
// followed here.
func (v *Volume) Symlink(ctx context.Context, dir uint64, name, target string, own *filestore.Owner) (unix.Stat_t, error) {
	if len(target) > 4096 || strings.ContainsRune(target, 0) || target == "" {
		return unix.Stat_t{}, unix.EINVAL
	}
	// Ceph counts a link's target as its contents.
	return v.make(ctx, dir, name, own, int64(len(target)), 1, func(dir int, name string) error { return symlinkAt(v.m, target, dir, name) })
}

// Link gives file ino another name in dir.
func (v *Volume) Link(ctx context.Context, ino, dir uint64, name string) (unix.Stat_t, error) {
	return v.make(ctx, dir, name, nil, 0, 0, func(dirFD int, name string) error {
		_, st, err := v.path(ctx, ino)
		if err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return unix.EISDIR
		}
		// ino was found inside the volume, and dirFD is open there.
		dst, err := fstatFD(v.m, dirFD)
		if err != nil {
			return err
		}
		return linkIno(v.m, ino, dst.Ino, name)
	})
}

// make runs op to add name to dir, gives what it made to own, and
// returns its attributes; the bytes and inodes it makes are admitted
// first.
func (v *Volume) make(ctx context.Context, dir uint64, name string, own *filestore.Owner, bytes, inodes int64, op func(dir int, name string) error) (unix.Stat_t, error) {
	var st unix.Stat_t
	v.tree.Lock()
	defer v.tree.Unlock()
	p, err := v.child(ctx, dir, name)
	if err != nil {
		return st, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.admit(bytes, inodes); err != nil {
		return st, err
	}
	dirFD, base, err := v.at(p)
	if err != nil {
		return st, err
	}
	defer v.release(dirFD)
	if err := op(dirFD, base); err != nil {
		return st, err
	}
	v.used += bytes
	v.inodes += inodes
	v.changed = time.Now()
	// What is made belongs to its maker, as on a local file system.
	if own != nil {
		if err := chownAt(v.m, dirFD, base, own.UID, own.GID); err != nil {
			return st, err
		}
	}
	if st, err = statAt(v.m, dirFD, base); err != nil {
		return st, err
	}
	v.paths.Remember(st.Ino, p)
	return st, nil
}

// Readlink returns a symbolic link's target.
func (v *Volume) Readlink(ctx context.Context, ino uint64) (string, error) {
	v.tree.RLock()
	defer v.tree.RUnlock()
	p, st, err := v.path(ctx, ino)
	if err != nil {
		return "", err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return "", unix.EINVAL
	}
	var t string
	err = v.onName(p, func(dir int, name string) error {
		t, err = readlinkAt(v.m, dir, name)
		return err
	})
	return t, err
}

// dropped gives back st's bytes and inode if it has just lost its last
// name; the caller holds mu.
func (v *Volume) dropped(st *unix.Stat_t) {
	v.changed = time.Now()
	if st.Mode&unix.S_IFMT == unix.S_IFDIR || st.Nlink <= 1 {
		if t := st.Mode & unix.S_IFMT; t == unix.S_IFREG || t == unix.S_IFLNK {
			v.used -= st.Size
		}
		v.inodes--
	}
}

// Remove unlinks a non-directory; Rmdir an empty directory.
func (v *Volume) Remove(ctx context.Context, dir uint64, name string, isDir bool) error {
	v.tree.Lock()
	defer v.tree.Unlock()
	p, err := v.child(ctx, dir, name)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	dirFD, base, err := v.at(p)
	if err != nil {
		return err
	}
	defer v.release(dirFD)
	st, err := statAt(v.m, dirFD, base)
	if err != nil {
		return err
	}
	switch {
	case isDir && st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return unix.ENOTDIR
	case isDir:
		err = unlinkAt(v.m, dirFD, base, unix.AT_REMOVEDIR)
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return unix.EISDIR
	default:
		err = unlinkAt(v.m, dirFD, base, 0)
	}
	if err != nil {
		return err
	}
	v.dropped(&st)
	if st.Nlink <= 1 || isDir {
		v.paths.Forget(st.Ino)
	}
	return nil
}

// Rename moves fromName in fromDir to toName in toDir, replacing what is
// there as rename(2) does.
func (v *Volume) Rename(ctx context.Context, fromDir uint64, fromName string, toDir uint64, toName string) error {
	v.tree.Lock()
	defer v.tree.Unlock()
	oldP, err := v.child(ctx, fromDir, fromName)
	if err != nil {
		return err
	}
	newP, err := v.child(ctx, toDir, toName)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	oldDir, oldName, err := v.at(oldP)
	if err != nil {
		return err
	}
	defer v.release(oldDir)
	newDir, newName, err := v.at(newP)
	if err != nil {
		return err
	}
	defer v.release(newDir)
	src, err := statAt(v.m, oldDir, oldName)
	if err != nil {
		return err
	}
	dst, derr := statAt(v.m, newDir, newName)
	exists := derr == nil
	if exists && dst.Ino == src.Ino {
		return nil // two names of one file: rename(2) leaves both
	}
	if src.Mode&unix.S_IFMT == unix.S_IFDIR && strings.HasPrefix(newP+"/", oldP+"/") {
		return unix.EINVAL // into itself
	}
	// libcephfs has no renameat: the two directories, open inside the
	// volume, are named by their inode numbers instead.
	from, err := fstatFD(v.m, oldDir)
	if err != nil {
		return err
	}
	to, err := fstatFD(v.m, newDir)
	if err != nil {
		return err
	}
	if err := renameIno(v.m, from.Ino, oldName, to.Ino, newName); err != nil {
		return err
	}
	if exists {
		v.dropped(&dst)
	}
	v.paths.Moved(src.Ino, oldP, newP, src.Mode&unix.S_IFMT == unix.S_IFDIR)
	return nil
}

// ReadDir lists dir from cookie (0 is the start), at most max entries,
// "." and ".." first. Cookies are positions in the directory's order.
func (v *Volume) ReadDir(ctx context.Context, dir uint64, cookie uint64, max int) ([]filestore.Entry, bool, error) {
	v.tree.RLock()
	defer v.tree.RUnlock()
	p, dst, err := v.path(ctx, dir)
	if err != nil {
		return nil, false, err
	}
	if dst.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, false, unix.ENOTDIR
	}
	fd, err := v.walkTo(p, dir)
	if err != nil {
		return nil, false, err
	}
	ents, err := listFD(v.m, fd)
	v.release(fd)
	if err != nil {
		return nil, false, err
	}
	parent, err := v.lstat(path.Dir(p))
	if err != nil {
		return nil, false, err
	}
	all := append([]entry{{".", dst}, {"..", parent}}, ents...)
	if cookie > uint64(len(all)) {
		return nil, false, unix.EINVAL
	}
	var out []filestore.Entry
	for i := int(cookie); i < len(all) && len(out) < max; i++ {
		e := all[i]
		if i >= 2 {
			v.paths.Remember(e.st.Ino, path.Join(p, e.name))
		}
		out = append(out, filestore.Entry{Name: e.name, Cookie: uint64(i + 1), Stat: e.st})
	}
	eof := len(out) == 0 || out[len(out)-1].Cookie == uint64(len(all))
	return out, eof, nil
}
