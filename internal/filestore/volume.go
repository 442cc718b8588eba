package filestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stowage/stowage/internal/diskspace"
	"github.com/stowage/stowage/internal/errs"
	"golang.org/x/sys/unix"
)

// ErrStale means a file id no longer names a file in the volume.
var ErrStale = errors.New("filestore: stale file id")

// ErrQuota is what a change beyond the volume's quota returns.
var ErrQuota = errs.E(errs.Quota, "filesystem volume quota exceeded")

// ErrInodes is what a new file beyond the volume's inode limit returns.
var ErrInodes = errs.E(errs.Quota, "filesystem volume has as many files as it may")

// What a volume costs on disk. Usage counts every byte a tenant can make
// the node store, not only file contents: each inode, its data rounded
// up to whole blocks (a one-byte file, a long symlink target and a
// directory each take a block), and each name in a directory. The model
// is ext4's, which is also about right for xfs; what matters is that
// nothing a client can create is free, so that no mix of empty files,
// directories and symlinks holds more of the disk than the quota.
const (
	blockSize = 4096
	inodeCost = 256
	// bytesPerInode caps the files of a volume at its quota over this,
	// and never below minInodes, as mkfs.ext4 sizes its inode table.
	bytesPerInode = 4096
	minInodes     = 1024
)

func roundUp(n int64) int64 { return (n + blockSize - 1) / blockSize * blockSize }

// dirent is what a name costs in its directory (an ext4 entry).
func dirent(name string) int64 { return 8 + int64(len(name)+3)&^3 }

// costOf is what an inode of this mode and size costs besides its names.
func costOf(mode uint32, size int64) int64 {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFLNK:
		return inodeCost + roundUp(size)
	case unix.S_IFDIR:
		return inodeCost + blockSize
	}
	return inodeCost
}

// MaxInodes is how many files, directories and symlinks a volume of
// quota bytes may hold.
func MaxInodes(quota int64) int64 { return max(quota/bytesPerInode, minInodes) }

// Volume is one open filesystem volume. Files are named by inode number;
// a cache maps the numbers in use to paths, and a miss (after a restart)
// walks the tree once to find the file again.
type Volume struct {
	base    string
	root    int // O_PATH descriptor of the tree
	rootIno uint64

	// mu orders size changes: writes inside a file's size and reads
	// share it; anything that changes what the volume costs takes it
	// alone, so usage is exact.
	mu     sync.RWMutex
	quota  int64
	used   int64 // bytes, as the cost model above counts them
	inodes int64
	// reserve refuses growth that would eat into the node's disk
	// reserve of reserveBytes.
	reserve      diskspace.Reserve
	reserveBytes int64

	paths Paths
}

// resolveFlags keep every lookup inside the tree: no symlink is followed
// and no ".." climbs out.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

func openVolume(ctx context.Context, base string, reserveBytes int64) (*Volume, error) {
	quota, err := readQuota(base)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(filepath.Join(base, treeDir), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	v := &Volume{base: base, root: fd, rootIno: st.Ino, quota: quota,
		reserve: diskspace.New(base, reserveBytes), reserveBytes: reserveBytes}
	if v.used, v.inodes, err = v.count(ctx); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return v, nil
}

func (v *Volume) close() { unix.Close(v.root) }

// count sums what the tree costs, each name once and each inode once
// however many names it has, and counts the inodes.
func (v *Volume) count(ctx context.Context) (used, inodes int64, err error) {
	seen := map[uint64]bool{}
	err = v.walk(ctx, func(rel string, st *syscall.Stat_t) bool {
		used += dirent(filepath.Base(rel))
		if seen[st.Ino] {
			return true
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFDIR && st.Nlink > 1 {
			seen[st.Ino] = true
		}
		used += costOf(st.Mode, st.Size)
		inodes++
		return true
	})
	return used, inodes, err
}

// walk visits every entry under the tree without following symlinks
// until fn returns false.
func (v *Volume) walk(ctx context.Context, fn func(rel string, st *syscall.Stat_t) bool) error {
	top := filepath.Join(v.base, treeDir)
	errStop := errors.New("stop")
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == top {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		rel, _ := filepath.Rel(top, p)
		if !fn(rel, st) {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// Root is the file id of the tree's top directory.
func (v *Volume) Root() uint64 { return v.rootIno }

// Quota returns the quota and the bytes used.
func (v *Volume) Quota() (quota, used int64) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.quota, v.used
}

// Space is what FSSTAT tells a client.
type Space struct {
	Bytes, FreeBytes int64
	Files, FreeFiles int64
}

// Space returns the volume's size and what is left of it: bytes left
// under the quota, fewer if the node's disk has less to give above its
// reserve, and files left under the inode limit.
func (v *Volume) Space() Space {
	v.mu.RLock()
	sp := Space{Bytes: v.quota, FreeBytes: max(v.quota-v.used, 0), Files: MaxInodes(v.quota), FreeFiles: max(MaxInodes(v.quota)-v.inodes, 0)}
	v.mu.RUnlock()
	if _, free, err := diskspace.Of(v.base); err == nil {
		sp.FreeBytes = max(min(sp.FreeBytes, free-v.reserveBytes), 0)
	}
	return sp
}

// admit says whether bytes more and inodes more fit: within the quota,
// within the inode limit, and above the node's disk reserve. The caller
// holds mu exclusively and charges what it then makes.
func (v *Volume) admit(bytes, inodes int64) error {
	if bytes > 0 && v.used+bytes > v.quota {
		return ErrQuota
	}
	if inodes > 0 && v.inodes+inodes > MaxInodes(v.quota) {
		return ErrInodes
	}
	if bytes > 0 {
		return v.reserve.Check(bytes)
	}
	return nil
}

// open opens rel inside the tree with flags (O_NOFOLLOW is implied for
// the last component by the resolve flags).
func (v *Volume) open(rel string, flags int) (int, error) {
	return unix.Openat2(v.root, rel, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW), Resolve: resolveFlags})
}

func (v *Volume) lstat(rel string) (unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := v.open(rel, unix.O_PATH)
	if err != nil {
		return st, err
	}
	defer unix.Close(fd)
	err = unix.Fstat(fd, &st)
	return st, err
}

// path finds the file id's current path, checking the cached one first.
func (v *Volume) path(ctx context.Context, ino uint64) (string, unix.Stat_t, error) {
	if ino == v.rootIno {
		st, err := v.lstat(".")
		return ".", st, err
	}
	rel, ok := v.paths.Get(ino)
	if ok {
		if st, err := v.lstat(rel); err == nil && st.Ino == ino {
			return rel, st, nil
		}
	}
	found := ""
	if err := v.walk(ctx, func(r string, st *syscall.Stat_t) bool {
		if st.Ino == ino {
			found = r
			return false
		}
		return true
	}); err != nil {
		return "", unix.Stat_t{}, err
	}
	if found == "" {
		v.paths.Forget(ino)
		return "", unix.Stat_t{}, ErrStale
	}
	st, err := v.lstat(found)
	if err != nil || st.Ino != ino {
		return "", unix.Stat_t{}, ErrStale
	}
	v.paths.Remember(ino, found)
	return found, st, nil
}

// openID opens the file id with flags and returns its path too.
func (v *Volume) openID(ctx context.Context, ino uint64, flags int) (int, string, error) {
	rel, _, err := v.path(ctx, ino)
	if err != nil {
		return -1, "", err
	}
	fd, err := v.open(rel, flags)
	if err != nil {
		return -1, "", err
	}
	return fd, rel, nil
}

// CheckName accepts one path component.
func CheckName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return unix.EINVAL
	case len(name) > 255:
		return unix.ENAMETOOLONG
	case strings.ContainsAny(name, "/\x00"):
		return unix.EINVAL
	}
	return nil
}

// dir opens a directory by id for *at calls.
func (v *Volume) dir(ctx context.Context, ino uint64) (int, string, error) {
	rel, st, err := v.path(ctx, ino)
	if err != nil {
		return -1, "", err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return -1, "", unix.ENOTDIR
	}
	fd, err := v.open(rel, unix.O_PATH|unix.O_DIRECTORY)
	return fd, rel, err
}

func join(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// Stat returns a file's attributes.
func (v *Volume) Stat(ctx context.Context, ino uint64) (unix.Stat_t, error) {
	_, st, err := v.path(ctx, ino)
	return st, err
}

// Lookup finds name in directory dir; "." and ".." are understood.
func (v *Volume) Lookup(ctx context.Context, dir uint64, name string) (unix.Stat_t, error) {
	rel, st, err := v.path(ctx, dir)
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
		if rel == "." {
			return st, nil
		}
		return v.lstat(path.Dir(rel))
	}
	if err := CheckName(name); err != nil {
		return unix.Stat_t{}, err
	}
	child := join(rel, name)
	cst, err := v.lstat(child)
	if err != nil {
		return cst, err
	}
	v.paths.Remember(cst.Ino, child)
	return cst, nil
}

// Read fills b from offset off and reports whether it reached the end,
// and the file's attributes after the read.
func (v *Volume) Read(ctx context.Context, ino uint64, off int64, b []byte) (int, bool, unix.Stat_t, error) {
	var st unix.Stat_t
	fd, _, err := v.openID(ctx, ino, unix.O_RDONLY)
	if err != nil {
		return 0, false, st, err
	}
	defer unix.Close(fd)
	n := 0
	for n < len(b) {
		m, err := unix.Pread(fd, b[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, false, st, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	if err := unix.Fstat(fd, &st); err != nil {
		return n, false, st, err
	}
	return n, off+int64(n) >= st.Size, st, nil
}

func pwriteAll(fd int, b []byte, off int64) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Pwrite(fd, b[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// Write stores b at off. A write that would take the volume beyond its
// quota writes nothing and returns ErrQuota. With sync the data is on
// disk when Write returns.
func (v *Volume) Write(ctx context.Context, ino uint64, off int64, b []byte, sync bool) (before, after unix.Stat_t, err error) {
	fd, _, err := v.openID(ctx, ino, unix.O_WRONLY)
	if err != nil {
		return before, after, err
	}
	defer unix.Close(fd)
	end := off + int64(len(b))
	v.mu.RLock()
	if err := unix.Fstat(fd, &before); err != nil {
		v.mu.RUnlock()
		return before, after, err
	}
	if end <= before.Size {
		_, err = pwriteAll(fd, b, off)
		v.mu.RUnlock()
	} else {
		v.mu.RUnlock()
		err = v.grow(fd, &before, func() error {
			_, err := pwriteAll(fd, b, off)
			return err
		}, end)
	}
	if err == nil && sync {
		err = unix.Fdatasync(fd)
	}
	if serr := unix.Fstat(fd, &after); err == nil {
		err = serr
	}
	return before, after, err
}

// grow runs op, which may change the file's size to at most end, under
// the exclusive lock, checking the quota and the disk reserve first and
// charging the real change after (a failed op may have written part).
func (v *Volume) grow(fd int, before *unix.Stat_t, op func() error, end int64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := unix.Fstat(fd, before); err != nil {
		return err
	}
	if err := v.admit(roundUp(end)-roundUp(before.Size), 0); err != nil {
		return err
	}
	err := op()
	var st unix.Stat_t
	if serr := unix.Fstat(fd, &st); serr == nil {
		v.used += roundUp(st.Size) - roundUp(before.Size)
	}
	return err
}

// Commit flushes a file's data and metadata to disk.
func (v *Volume) Commit(ctx context.Context, ino uint64) error {
	fd, _, err := v.openID(ctx, ino, unix.O_RDONLY)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsync(fd)
}

// SetAttr carries the changes of a SETATTR; nil fields stay as they are.
type SetAttr struct {
	Mode     *uint32
	UID, GID *uint32
	Size     *int64
	// Atime and Mtime: nil keeps the time; a zero time means now.
	Atime, Mtime *time.Time
}

// procPath names an O_PATH descriptor so that calls which take no
// descriptor act on exactly that file.
func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// SetAttr applies a. It returns the attributes before and after.
func (v *Volume) SetAttr(ctx context.Context, ino uint64, a SetAttr) (before, after unix.Stat_t, err error) {
	fd, rel, err := v.openID(ctx, ino, unix.O_PATH)
	if err != nil {
		return before, after, err
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &before); err != nil {
		return before, after, err
	}
	isLink := before.Mode&unix.S_IFMT == unix.S_IFLNK
	if a.Size != nil {
		if before.Mode&unix.S_IFMT != unix.S_IFREG {
			return before, before, unix.EINVAL
		}
		if *a.Size < 0 {
			return before, before, unix.EINVAL
		}
		wfd, err := v.open(rel, unix.O_WRONLY)
		if err != nil {
			return before, before, err
		}
		var st unix.Stat_t
		err = v.grow(wfd, &st, func() error { return unix.Ftruncate(wfd, *a.Size) }, *a.Size)
		unix.Close(wfd)
		if err != nil {
			return before, before, err
		}
	}
	if a.Mode != nil && !isLink {
		if err := unix.Chmod(procPath(fd), *a.Mode&modeMask); err != nil {
			return before, before, err
		}
	}
	if a.UID != nil || a.GID != nil {
		uid, gid := -1, -1
		if a.UID != nil {
			uid = int(*a.UID)
		}
		if a.GID != nil {
			gid = int(*a.GID)
		}
		if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return before, before, err
		}
	}
	if (a.Atime != nil || a.Mtime != nil) && !isLink {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		for i, t := range []*time.Time{a.Atime, a.Mtime} {
			switch {
			case t == nil:
			case t.IsZero():
				ts[i] = unix.Timespec{Nsec: unix.UTIME_NOW}
			default:
				ts[i] = unix.NsecToTimespec(t.UnixNano())
			}
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, procPath(fd), ts, 0); err != nil {
			return before, before, err
		}
	}
	err = unix.Fstat(fd, &after)
	return before, after, err
}

// modeMask keeps the permission bits a tenant may set: never setuid or
// setgid, so that no file in a volume runs with its owner's rights on a
// host that mounts it.
const modeMask = 0o1777

// Owner is who a new file belongs to; a nil *Owner leaves it to the
// server process.
type Owner struct{ UID, GID uint32 }

// chown gives the file name in dfd to own.
func (own *Owner) chown(dfd int, name string) error {
	if own == nil {
		return nil
	}
	return unix.Fchownat(dfd, name, int(own.UID), int(own.GID), unix.AT_SYMLINK_NOFOLLOW)
}

// CreateMode says what Create does when the name exists.
type CreateMode int

const (
	// Unchecked opens an existing file as it is.
	Unchecked CreateMode = iota
	// Guarded fails with EEXIST.
	Guarded
	// Exclusive fails unless the existing file was made by a Create with
	// the same verifier (a retransmission).
	Exclusive
)

// Create makes (or, Unchecked, opens) a regular file in dir; a file it
// makes belongs to own.
func (v *Volume) Create(ctx context.Context, dir uint64, name string, mode uint32, how CreateMode, verf [8]byte, own *Owner) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := CheckName(name); err != nil {
		return st, err
	}
	dfd, drel, err := v.dir(ctx, dir)
	if err != nil {
		return st, err
	}
	defer unix.Close(dfd)
	v.mu.Lock()
	defer v.mu.Unlock()
	cost := inodeCost + dirent(name)
	if err := v.admit(cost, 1); err != nil {
		// A name that is there costs nothing more: Create opens it or
		// refuses it below.
		if unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			return st, err
		}
	}
	// Always exclusive first, so that a file made here is known to be
	// new and given to its owner; an unchecked create then opens what
	// is there.
	flags := unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(dfd, name, flags, mode&modeMask)
	made := err == nil
	if made {
		v.used += cost
		v.inodes++
	}
	if err == unix.EEXIST && how == Unchecked {
		fd, err = unix.Openat(dfd, name, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err == unix.EEXIST && how == Exclusive {
		if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return st, err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Atim.Sec == int64(binary.BigEndian.Uint32(verf[:4])) && st.Mtim.Sec == int64(binary.BigEndian.Uint32(verf[4:])) {
			v.paths.Remember(st.Ino, join(drel, name))
			return st, nil
		}
		return st, unix.EEXIST
	}
	if err != nil {
		return st, err
	}
	defer unix.Close(fd)
	if made && own != nil {
		if err := unix.Fchown(fd, int(own.UID), int(own.GID)); err != nil {
			return st, err
		}
	}
	if how == Exclusive {
		// The verifier is kept in the times until the client sets them,
		// so a retransmitted create can be recognised.
		ts := []unix.Timespec{{Sec: int64(binary.BigEndian.Uint32(verf[:4]))}, {Sec: int64(binary.BigEndian.Uint32(verf[4:]))}}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, procPath(fd), ts, 0); err != nil {
			return st, err
		}
	}
	if err := unix.Fstat(fd, &st); err != nil {
		return st, err
	}
	v.paths.Remember(st.Ino, join(drel, name))
	return st, nil
}

// Mkdir makes a directory in dir that belongs to own.
func (v *Volume) Mkdir(ctx context.Context, dir uint64, name string, mode uint32, own *Owner) (unix.Stat_t, error) {
	return v.make(ctx, dir, name, own, inodeCost+blockSize, 1, func(dfd int) error { return unix.Mkdirat(dfd, name, mode&modeMask) })
}

// Symlink makes a symbolic link that belongs to own; its target is never
// followed here.
func (v *Volume) Symlink(ctx context.Context, dir uint64, name, target string, own *Owner) (unix.Stat_t, error) {
	if len(target) > 4096 || strings.ContainsRune(target, 0) {
		return unix.Stat_t{}, unix.EINVAL
	}
	return v.make(ctx, dir, name, own, inodeCost+roundUp(int64(len(target))), 1, func(dfd int) error { return unix.Symlinkat(target, dfd, name) })
}

// Link gives file ino another name in dir.
func (v *Volume) Link(ctx context.Context, ino, dir uint64, name string) (unix.Stat_t, error) {
	fd, _, err := v.openID(ctx, ino, unix.O_PATH)
	if err != nil {
		return unix.Stat_t{}, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return st, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return st, unix.EISDIR
	}
	return v.make(ctx, dir, name, nil, 0, 0, func(dfd int) error {
		return unix.Linkat(unix.AT_FDCWD, procPath(fd), dfd, name, unix.AT_SYMLINK_FOLLOW)
	})
}

// make runs op to add name to dir, gives what it made to own, and
// returns its attributes. What op makes costs cost bytes besides the
// name and inodes new inodes; both are admitted first.
func (v *Volume) make(ctx context.Context, dir uint64, name string, own *Owner, cost, inodes int64, op func(dfd int) error) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := CheckName(name); err != nil {
		return st, err
	}
	dfd, drel, err := v.dir(ctx, dir)
	if err != nil {
		return st, err
	}
	defer unix.Close(dfd)
	cost += dirent(name)
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.admit(cost, inodes); err != nil {
		return st, err
	}
	if err := op(dfd); err != nil {
		return st, err
	}
	v.used += cost
	v.inodes += inodes
	if err := own.chown(dfd, name); err != nil {
		return st, err
	}
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return st, err
	}
	v.paths.Remember(st.Ino, join(drel, name))
	return st, nil
}

// Readlink returns a symbolic link's target.
func (v *Volume) Readlink(ctx context.Context, ino uint64) (string, error) {
	fd, _, err := v.openID(ctx, ino, unix.O_PATH)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// unlinked gives back what the name of st cost, and st's own cost when
// that was its last name.
func (v *Volume) unlinked(name string, st *unix.Stat_t) {
	v.used -= dirent(name)
	v.dropped(st)
}

// dropped gives back st's cost if it has just lost its last name.
func (v *Volume) dropped(st *unix.Stat_t) {
	if st.Mode&unix.S_IFMT == unix.S_IFDIR || st.Nlink <= 1 {
		v.used -= costOf(st.Mode, st.Size)
		v.inodes--
	}
}

// Remove unlinks a non-directory; Rmdir an empty directory.
func (v *Volume) Remove(ctx context.Context, dir uint64, name string, isDir bool) error {
	if err := CheckName(name); err != nil {
		return err
	}
	dfd, _, err := v.dir(ctx, dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	v.mu.Lock()
	defer v.mu.Unlock()
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	flags := 0
	if isDir {
		flags = unix.AT_REMOVEDIR
	} else if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return unix.EISDIR
	}
	if err := unix.Unlinkat(dfd, name, flags); err != nil {
		return err
	}
	v.unlinked(name, &st)
	if st.Nlink <= 1 || isDir {
		v.paths.Forget(st.Ino)
	}
	return nil
}

// Rename moves fromName in fromDir to toName in toDir, replacing what is
// there as rename(2) does.
func (v *Volume) Rename(ctx context.Context, fromDir uint64, fromName string, toDir uint64, toName string) error {
	if err := CheckName(fromName); err != nil {
		return err
	}
	if err := CheckName(toName); err != nil {
		return err
	}
	ffd, frel, err := v.dir(ctx, fromDir)
	if err != nil {
		return err
	}
	defer unix.Close(ffd)
	tfd, trel, err := v.dir(ctx, toDir)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	v.mu.Lock()
	defer v.mu.Unlock()
	var src, dst unix.Stat_t
	if err := unix.Fstatat(ffd, fromName, &src, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	exists := unix.Fstatat(tfd, toName, &dst, unix.AT_SYMLINK_NOFOLLOW) == nil
	if exists && dst.Ino == src.Ino {
		// Two names of one file: rename(2) leaves both as they are.
		return unix.Renameat(ffd, fromName, tfd, toName)
	}
	if !exists {
		if err := v.admit(dirent(toName)-dirent(fromName), 0); err != nil {
			return err
		}
	}
	if err := unix.Renameat(ffd, fromName, tfd, toName); err != nil {
		return err
	}
	// The source's name goes; the target's stays, naming the source
	// now, and what it named goes with its last name.
	v.used -= dirent(fromName)
	if exists {
		v.dropped(&dst)
	} else {
		v.used += dirent(toName)
	}
	v.paths.Moved(src.Ino, join(frel, fromName), join(trel, toName), src.Mode&unix.S_IFMT == unix.S_IFDIR)
	return nil
}

// Entry is one directory entry. Cookie is where the next read continues.
type Entry struct {
	Name   string
	Cookie uint64
	Stat   unix.Stat_t
}

// ReadDir lists dir from cookie (0 is the start), at most max entries,
// "." and ".." first. Cookies are positions in the directory's order.
func (v *Volume) ReadDir(ctx context.Context, dir uint64, cookie uint64, max int) ([]Entry, bool, error) {
	rel, dst, err := v.path(ctx, dir)
	if err != nil {
		return nil, false, err
	}
	if dst.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, false, unix.ENOTDIR
	}
	fd, err := v.open(rel, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, false, err
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, false, fmt.Errorf("read directory: %w", err)
	}
	names = append([]string{".", ".."}, names...)
	if cookie > uint64(len(names)) {
		return nil, false, unix.EINVAL
	}
	var out []Entry
	for i := int(cookie); i < len(names) && len(out) < max; i++ {
		name := names[i]
		var st unix.Stat_t
		switch name {
		case ".":
			st = dst
		case "..":
			st, err = v.Lookup(ctx, dir, "..")
		default:
			err = unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
			if err == nil {
				v.paths.Remember(st.Ino, join(rel, name))
			}
		}
		if errors.Is(err, unix.ENOENT) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, false, err
		}
		out = append(out, Entry{Name: name, Cookie: uint64(i + 1), Stat: st})
	}
	eof := len(out) == 0 || out[len(out)-1].Cookie == uint64(len(names))
	return out, eof, nil
}
