//go:build ceph

package cephfs

/*
#cgo LDFLAGS: -lcephfs
#cgo CPPFLAGS: -D_FILE_OFFSET_BITS=64
#include <stdlib.h>
#include <fcntl.h>
#include <cephfs/libcephfs.h>

static int stowage_ll_rename(struct ceph_mount_info *cm, uint64_t from, const char *fromName, uint64_t to, const char *toName) {
	struct inodeno_t fi = {from}, ti = {to};
	Inode *fin = NULL, *tin = NULL;
	int r = ceph_ll_lookup_inode(cm, fi, &fin);
	if (r < 0) return r;
	r = ceph_ll_lookup_inode(cm, ti, &tin);
	if (r == 0) {
		r = ceph_ll_rename(cm, fin, fromName, tin, toName, ceph_mount_perms(cm));
		ceph_ll_put(cm, tin);
	}
	ceph_ll_put(cm, fin);
	return r;
}

static int stowage_ll_link(struct ceph_mount_info *cm, uint64_t ino, uint64_t dir, const char *name) {
	struct inodeno_t ii = {ino}, di = {dir};
	Inode *in = NULL, *din = NULL;
	int r = ceph_ll_lookup_inode(cm, ii, &in);
	if (r < 0) return r;
	r = ceph_ll_lookup_inode(cm, di, &din);
	if (r == 0) {
		r = ceph_ll_link(cm, in, din, name, ceph_mount_perms(cm));
		ceph_ll_put(cm, din);
	}
	ceph_ll_put(cm, in);
	return r;
}
*/
import "C"

import (
	"fmt"
	"reflect"
	"unsafe"

	libcephfs "github.com/ceph/go-ceph/cephfs"
	"golang.org/x/sys/unix"
)

// These are the calls of libcephfs that take one name relative to an
// open directory (its *at calls), which go-ceph v0.34.0 does not wrap,
// and the inode-level rename and link, which have no *at form. They let
// a volume reach a file one name at a time from a directory it holds
// open, so that no symbolic link is ever followed (see the package doc).
//
// They work on go-ceph's own handles: its MountInfo holds the libcephfs
// mount, its File a descriptor, its Directory a listing. layoutOK says
// whether those are still laid out as read here.

type mountLayout struct{ mount *C.struct_ceph_mount_info }

type fileLayout struct {
	mount *libcephfs.MountInfo
	fd    C.int
}

type dirLayout struct {
	mount *libcephfs.MountInfo
	dir   *C.struct_ceph_dir_result
}

// layoutOK checks that go-ceph's types hold what this file reads from
// them, so that a go-ceph upgrade that changes them fails loudly.
func layoutOK() error {
	for _, c := range []struct {
		t      reflect.Type
		fields []string
	}{
		{reflect.TypeOf(libcephfs.MountInfo{}), []string{"mount"}},
		{reflect.TypeOf(libcephfs.File{}), []string{"mount", "fd"}},
		{reflect.TypeOf(libcephfs.Directory{}), []string{"mount", "dir"}},
	} {
		if c.t.NumField() != len(c.fields) {
			return fmt.Errorf("cephfs: go-ceph's %s changed", c.t)
		}
		for i, f := range c.fields {
			if c.t.Field(i).Name != f {
				return fmt.Errorf("cephfs: go-ceph's %s changed", c.t)
			}
		}
	}
	return nil
}

func cmount(m *libcephfs.MountInfo) *C.struct_ceph_mount_info {
	return (*mountLayout)(unsafe.Pointer(m)).mount
}

// fdOf is the libcephfs descriptor of f.
func fdOf(f *libcephfs.File) int { return int((*fileLayout)(unsafe.Pointer(f)).fd) }

func asFile(m *libcephfs.MountInfo, fd int) *libcephfs.File {
	f := new(libcephfs.File)
	*(*fileLayout)(unsafe.Pointer(f)) = fileLayout{mount: m, fd: C.int(fd)}
	return f
}

func cerr(r C.int) error {
	if r < 0 {
		return unix.Errno(-r)
	}
	return nil
}

// clientAddr is the address m's client has in the cluster, which the
// OSD blocklist takes to fence it (go-ceph does not wrap ceph_getaddrs).
func clientAddr(m *libcephfs.MountInfo) (string, error) {
	var a *C.char
	if err := cerr(C.ceph_getaddrs(cmount(m), &a)); err != nil {
		return "", fmt.Errorf("cephfs: client address: %w", err)
	}
	defer C.ceph_buffer_free(a)
	return C.GoString(a), nil
}

func closeFD(m *libcephfs.MountInfo, fd int) { C.ceph_close(cmount(m), C.int(fd)) }

// openAt opens name in the directory open as dir; with unix.O_NOFOLLOW
// a symbolic link is not followed.
func openAt(m *libcephfs.MountInfo, dir int, name string, flags int, mode uint32) (int, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	r := C.ceph_openat(cmount(m), C.int(dir), cn, C.int(flags), C.mode_t(mode))
	if r < 0 {
		return -1, errno(cerr(r))
	}
	return int(r), nil
}

func fromStatx(sx *C.struct_ceph_statx) unix.Stat_t {
	ts := func(t C.struct_timespec) unix.Timespec {
		return unix.Timespec{Sec: int64(t.tv_sec), Nsec: int64(t.tv_nsec)}
	}
	return unix.Stat_t{Ino: uint64(sx.stx_ino), Nlink: uint64(sx.stx_nlink), Mode: uint32(sx.stx_mode), Uid: uint32(sx.stx_uid), Gid: uint32(sx.stx_gid),
		Rdev: uint64(sx.stx_rdev), Size: int64(sx.stx_size), Blksize: int64(sx.stx_blksize), Blocks: int64(sx.stx_blocks),
		Atim: ts(sx.stx_atime), Mtim: ts(sx.stx_mtime), Ctim: ts(sx.stx_ctime)}
}

// statAt stats name in dir, never following a symbolic link.
func statAt(m *libcephfs.MountInfo, dir int, name string) (unix.Stat_t, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var sx C.struct_ceph_statx
	if r := C.ceph_statxat(cmount(m), C.int(dir), cn, &sx, C.CEPH_STATX_BASIC_STATS, C.AT_SYMLINK_NOFOLLOW); r < 0 {
		return unix.Stat_t{}, errno(cerr(r))
	}
	return fromStatx(&sx), nil
}

// fstatFD stats an open descriptor.
func fstatFD(m *libcephfs.MountInfo, fd int) (unix.Stat_t, error) {
	var sx C.struct_ceph_statx
	if r := C.ceph_fstatx(cmount(m), C.int(fd), &sx, C.CEPH_STATX_BASIC_STATS, 0); r < 0 {
		return unix.Stat_t{}, errno(cerr(r))
	}
	return fromStatx(&sx), nil
}

// listFD lists the directory open as fd, "." and ".." left out.
func listFD(m *libcephfs.MountInfo, fd int) ([]entry, error) {
	var dr *C.struct_ceph_dir_result
	if r := C.ceph_fdopendir(cmount(m), C.int(fd), &dr); r < 0 {
		return nil, errno(cerr(r))
	}
	d := new(libcephfs.Directory)
	*(*dirLayout)(unsafe.Pointer(d)) = dirLayout{mount: m, dir: dr}
	return listDir(d)
}

func mkdirAt(m *libcephfs.MountInfo, dir int, name string, mode uint32) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	return errno(cerr(C.ceph_mkdirat(cmount(m), C.int(dir), cn, C.mode_t(mode))))
}

func symlinkAt(m *libcephfs.MountInfo, target string, dir int, name string) error {
	ct, cn := C.CString(target), C.CString(name)
	defer C.free(unsafe.Pointer(ct))
	defer C.free(unsafe.Pointer(cn))
	return errno(cerr(C.ceph_symlinkat(cmount(m), ct, C.int(dir), cn)))
}

func readlinkAt(m *libcephfs.MountInfo, dir int, name string) (string, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	buf := make([]byte, 4097)
	r := C.ceph_readlinkat(cmount(m), C.int(dir), cn, (*C.char)(unsafe.Pointer(&buf[0])), C.int64_t(len(buf)))
	if r < 0 {
		return "", errno(cerr(r))
	}
	return string(buf[:r]), nil
}

// unlinkAt removes name from dir; flags unix.AT_REMOVEDIR for a directory.
func unlinkAt(m *libcephfs.MountInfo, dir int, name string, flags int) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	return errno(cerr(C.ceph_unlinkat(cmount(m), C.int(dir), cn, C.int(flags))))
}

func chmodAt(m *libcephfs.MountInfo, dir int, name string, mode uint32) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	return errno(cerr(C.ceph_chmodat(cmount(m), C.int(dir), cn, C.mode_t(mode), C.AT_SYMLINK_NOFOLLOW)))
}

// chownAt changes name's owner; noID keeps one.
func chownAt(m *libcephfs.MountInfo, dir int, name string, uid, gid uint32) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	return errno(cerr(C.ceph_chownat(cmount(m), C.int(dir), cn, C.uid_t(uid), C.gid_t(gid), C.AT_SYMLINK_NOFOLLOW)))
}

// renameIno moves fromName in directory from to toName in directory to,
// both named by inode number.
func renameIno(m *libcephfs.MountInfo, from uint64, fromName string, to uint64, toName string) error {
	cf, ct := C.CString(fromName), C.CString(toName)
	defer C.free(unsafe.Pointer(cf))
	defer C.free(unsafe.Pointer(ct))
	return errno(cerr(C.stowage_ll_rename(cmount(m), C.uint64_t(from), cf, C.uint64_t(to), ct)))
}

// linkIno gives inode ino the name name in directory dir.
func linkIno(m *libcephfs.MountInfo, ino, dir uint64, name string) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	return errno(cerr(C.stowage_ll_link(cmount(m), C.uint64_t(ino), C.uint64_t(dir), cn)))
}
