package nfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"time"

	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/filestore"
	"golang.org/x/sys/unix"
)

// NFSv3 procedures.
const (
	procNull = iota
	procGetattr
	procSetattr
	procLookup
	procAccess
	procReadlink
	procRead
	procWrite
	procCreate
	procMkdir
	procSymlink
	procMknod
	procRemove
	procRmdir
	procRename
	procLink
	procReaddir
	procReaddirplus
	procFsstat
	procFsinfo
	procPathconf
	procCommit
)

// nfsstat3 values.
const (
	nfsOK          = 0
	errPerm        = 1
	errNoEnt       = 2
	errIO          = 5
	errAcces       = 13
	errExist       = 17
	errXDev        = 18
	errNotDir      = 20
	errIsDir       = 21
	errInval       = 22
	errFBig        = 27
	errNoSpc       = 28
	errROFS        = 30
	errMLink       = 31
	errNameTooLong = 63
	errNotEmpty    = 66
	errDQuot       = 69
	errStale       = 70
	errBadHandle   = 10001
	errBadCookie   = 10003
	errNotSupp     = 10004
	errTooSmall    = 10005
)

// status maps a filestore error to nfsstat3.
func status(err error) uint32 {
	if err == nil {
		return nfsOK
	}
	if errors.Is(err, filestore.ErrStale) {
		return errStale
	}
	switch errs.KindOf(err) {
	case errs.Quota:
		return errDQuot
	case errs.NoSpace:
		return errNoSpc
	}
	var e unix.Errno
	if errors.As(err, &e) {
		switch e {
		case unix.EPERM:
			return errPerm
		case unix.ENOENT:
			return errNoEnt
		case unix.EACCES:
			return errAcces
		case unix.EEXIST:
			return errExist
		case unix.EXDEV:
			return errXDev
		case unix.ENOTDIR:
			return errNotDir
		case unix.EISDIR:
			return errIsDir
		case unix.EINVAL:
			return errInval
		case unix.EFBIG:
			return errFBig
		case unix.ENOSPC:
			return errNoSpc
		case unix.EROFS:
			return errROFS
		case unix.EMLINK:
			return errMLink
		case unix.ENAMETOOLONG:
			return errNameTooLong
		case unix.ENOTEMPTY:
			return errNotEmpty
		case unix.EDQUOT:
			return errDQuot
		case unix.ELOOP:
			// A symlink where a file or directory was needed.
			return errInval
		}
	}
	return errIO
}

func handle(id []byte, ino uint64) []byte {
	h := make([]byte, handleLen)
	copy(h, id)
	binary.BigEndian.PutUint64(h[16:], ino)
	return h
}

// fh is a decoded handle bound to its volume and the caller's identity
// on it.
type fh struct {
	id  []byte
	ino uint64
	v   FS
	who cred
	io  IOCounter
}

func (f fh) child(ino uint64) []byte { return handle(f.id, ino) }

// fsid tells clients which files share a volume.
func (f fh) fsid() uint64 { return binary.BigEndian.Uint64(f.id[:8]) }

// fileHandle reads an nfs_fh3 and resolves its export for call c; the
// status is non-zero when it cannot be used.
func (s *Server) fileHandle(ctx context.Context, c *call, r *reader) (fh, uint32) {
	b := r.opaque(64)
	if r.err != nil {
		return fh{}, errBadHandle
	}
	if len(b) != handleLen {
		return fh{}, errBadHandle
	}
	id := append([]byte(nil), b[:16]...)
	ex, err := s.export(ctx, c, ExportPrefix+hex.EncodeToString(id))
	if errors.Is(err, errNotYours) {
		return fh{}, errAcces
	}
	if err != nil {
		return fh{}, errStale
	}
	return fh{id: id, ino: binary.BigEndian.Uint64(b[16:]), v: ex.Volume, who: s.credOf(c, ex), io: ex.Counter}, nfsOK
}

func ftype(mode uint32) uint32 {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return 1
	case unix.S_IFDIR:
		return 2
	case unix.S_IFBLK:
		return 3
	case unix.S_IFCHR:
		return 4
	case unix.S_IFLNK:
		return 5
	case unix.S_IFSOCK:
		return 6
	case unix.S_IFIFO:
		return 7
	}
	return 1
}

func (w *writer) time(t unix.Timespec) {
	w.u32(uint32(t.Sec))
	w.u32(uint32(t.Nsec))
}

func (w *writer) fattr(f fh, st *unix.Stat_t) {
	w.u32(ftype(st.Mode))
	w.u32(st.Mode & 0o7777)
	w.u32(uint32(st.Nlink))
	w.u32(st.Uid)
	w.u32(st.Gid)
	w.u64(uint64(st.Size))
	w.u64(uint64(st.Blocks) * 512)
	w.u32(unix.Major(st.Rdev))
	w.u32(unix.Minor(st.Rdev))
	w.u64(f.fsid())
	w.u64(st.Ino)
	w.time(st.Atim)
	w.time(st.Mtim)
	w.time(st.Ctim)
}

// postOp writes post_op_attr: the attributes when st is known.
func (w *writer) postOp(f fh, st *unix.Stat_t) {
	w.bool(st != nil)
	if st != nil {
		w.fattr(f, st)
	}
}

// postOpOf stats ino for a post_op_attr, leaving it out on failure.
func (w *writer) postOpOf(ctx context.Context, f fh, ino uint64) {
	st, err := f.v.Stat(ctx, ino)
	if err != nil {
		w.bool(false)
		return
	}
	w.postOp(f, &st)
}

// wcc writes wcc_data from the attributes before and after a change.
func (w *writer) wcc(f fh, before, after *unix.Stat_t) {
	w.bool(before != nil)
	if before != nil {
		w.u64(uint64(before.Size))
		w.time(before.Mtim)
		w.time(before.Ctim)
	}
	w.postOp(f, after)
}

// sattr3 decoded.
func readSattr(r *reader) filestore.SetAttr {
	var a filestore.SetAttr
	if r.bool() {
		m := r.u32()
		a.Mode = &m
	}
	if r.bool() {
		u := r.u32()
		a.UID = &u
	}
	if r.bool() {
		g := r.u32()
		a.GID = &g
	}
	if r.bool() {
		sz := int64(r.u64())
		a.Size = &sz
	}
	for _, t := range []**time.Time{&a.Atime, &a.Mtime} {
		switch r.u32() {
		case 1: // SET_TO_SERVER_TIME
			*t = &time.Time{}
		case 2: // SET_TO_CLIENT_TIME
			sec, nsec := r.u32(), r.u32()
			v := time.Unix(int64(sec), int64(nsec))
			*t = &v
		}
	}
	return a
}

func (s *Server) nfs3(ctx context.Context, c *call) *writer {
	if c.proc > procCommit {
		return acceptedReply(c.xid, acceptProcUnavail)
	}
	if c.proc == procNull {
		return acceptedReply(c.xid, acceptSuccess)
	}
	r := &c.args
	f, st := s.fileHandle(ctx, c, r)
	w := acceptedReply(c.xid, acceptSuccess)
	ok := s.nfsCall(ctx, c, f, st, w)
	if !ok {
		return acceptedReply(c.xid, acceptGarbageArgs)
	}
	return w
}

// nfsCall runs one procedure on a decoded handle, writing the result
// after the accepted-reply header. It returns false for garbage args.
func (s *Server) nfsCall(ctx context.Context, c *call, f fh, hst uint32, w *writer) bool {
	r := &c.args
	switch c.proc {
	case procGetattr:
		if r.err != nil {
			return false
		}
		if hst != nfsOK {
			w.u32(hst)
			return true
		}
		st, err := f.v.Stat(ctx, f.ino)
		w.u32(status(err))
		if err == nil {
			w.fattr(f, &st)
		}
	case procSetattr:
		a := readSattr(r)
		if r.bool() { // guard on ctime
			r.u32()
			r.u32()
		}
		if r.err != nil {
			return false
		}
		if hst != nfsOK {
			w.u32(hst)
			w.wcc(f, nil, nil)
			return true
		}
		cur, err := f.v.Stat(ctx, f.ino)
		if err == nil {
			err = f.who.setattr(&cur, a)
		}
		if err != nil {
			w.u32(status(err))
			w.wcc(f, nil, statOrNil(&cur, err))
			return true
		}
		before, after, err := f.v.SetAttr(ctx, f.ino, a)
		w.u32(status(err))
		w.wcc(f, &before, &after)
	case procLookup:
		name := r.string(1024)
		if r.err != nil {
			return false
		}
		if hst != nfsOK {
			w.u32(hst)
			w.bool(false)
			return true
		}
		var st unix.Stat_t
		err := f.allow(ctx, f.ino, mayExec)
		if err == nil {
			st, err = f.v.Lookup(ctx, f.ino, name)
		}
		w.u32(status(err))
		if err == nil {
			w.opaque(f.child(st.Ino))
			w.postOp(f, &st)
		}
		w.postOpOf(ctx, f, f.ino)
	case procAccess:
		want := r.u32()
		if r.err != nil {
			return false
		}
		if hst != nfsOK {
			w.u32(hst)
			w.bool(false)
			return true
		}
		st, err := f.v.Stat(ctx, f.ino)
		w.u32(status(err))
		if err != nil {
			w.bool(false)
			return true
		}
		w.postOp(f, &st)
		w.u32(f.who.access(&st, want))
	case procReadlink:
		if r.err != nil {
			return false
		}
		if hst != nfsOK {
			w.u32(hst)
			w.bool(false)
			return true
		}
		target, err := f.v.Readlink(ctx, f.ino)
		w.u32(status(err))
		w.postOpOf(ctx, f, f.ino)
		if err == nil {
			w.string(target)
		}
	case procRead:
		off, count := r.u64(), r.u32()
		if r.err != nil {
			return false
		}
		if hst != nfsOK {
			w.u32(hst)
			w.bool(false)
			return true
		}
		if count > maxIO {
			count = maxIO
		}
		// Room for the whole reply up front: the data is copied once.
		w.b = slices.Grow(w.b, 256+int(count))
		buf := make([]byte, count)
		var n int
		var eof bool
		var st unix.Stat_t
		err := f.allowIO(ctx, mayRead)
		if err == nil {
			n, eof, st, err = f.v.Read(ctx, f.ino, int64(off), buf)
		}
		w.u32(status(err))
		w.postOp(f, statOrNil(&st, err))
		if err == nil {
			w.u32(uint32(n))
			w.bool(eof)
			w.opaque(buf[:n])
			if f.io != nil {
				f.io.CountIO(int64(n), 0)
			}
		}
	case procWrite:
		off, _, stable := r.u64(), r.u32(), r.u32()
		data := r.opaque(maxIO)
		if r.err != nil {
			return false
		}
		if hst != nfsOK {
			w.u32(hst)
			w.wcc(f, nil, nil)
			return true
		}
		if err := f.allowIO(ctx, mayWrite); err != nil {
			w.u32(status(err))
			w.wcc(f, nil, nil)
			return true
		}
		sync := stable != 0 // DATA_SYNC or FILE_SYNC
		before, after, err := f.v.Write(ctx, f.ino, int64(off), data, sync)
		w.u32(status(err))
		if err != nil {
			w.wcc(f, &before, nil)
			return true
		}
		w.wcc(f, &before, &after)
		if f.io != nil {
			f.io.CountIO(0, int64(len(data)))
		}
		w.u32(uint32(len(data)))
		if sync {
			w.u32(2) // FILE_SYNC
		} else {
			w.u32(0) // UNSTABLE until COMMIT
		}
		w.fixed(s.verf[:])
	case procCreate:
		name := r.string(1024)
		how := filestore.CreateMode(r.u32())
		var a filestore.SetAttr
		var verf [8]byte
		switch how {
		case filestore.Unchecked, filestore.Guarded:
			a = readSattr(r)
		case filestore.Exclusive:
			copy(verf[:], r.fixed(8))
		default:
			return false
		}
		if r.err != nil {
			return false
		}
		// An unchecked create of an existing file changes that file. A bad
		// handle has no volume to look in: made answers its status.
		var existing *unix.Stat_t
		if hst == nfsOK && how == filestore.Unchecked {
			if st, err := f.v.Lookup(ctx, f.ino, name); err == nil {
				existing = &st
			}
		}
		s.made(ctx, f, hst, w, &a, existing, func(own *filestore.Owner) (unix.Stat_t, error) {
			mode := uint32(0o644)
			if a.Mode != nil {
				mode = *a.Mode
			}
			return f.v.Create(ctx, f.ino, name, mode, how, verf, own)
		})
	case procMkdir:
		name := r.string(1024)
		a := readSattr(r)
		if r.err != nil {
			return false
		}
		s.made(ctx, f, hst, w, &a, nil, func(own *filestore.Owner) (unix.Stat_t, error) {
			mode := uint32(0o755)
			if a.Mode != nil {
				mode = *a.Mode
			}
			return f.v.Mkdir(ctx, f.ino, name, mode, own)
		})
	case procSymlink:
		name := r.string(1024)
		a := readSattr(r)
		target := r.string(4096)
		if r.err != nil {
			return false
		}
		a.Mode = nil
		s.made(ctx, f, hst, w, &a, nil, func(own *filestore.Owner) (unix.Stat_t, error) {
			return f.v.Symlink(ctx, f.ino, name, target, own)
		})
	case procMknod:
		w.u32(errNotSupp)
		w.wcc(f, nil, nil)
	case procRemove, procRmdir:
		name := r.string(1024)
		if r.err != nil {
			return false
		}
		if hst != nfsOK {
			w.u32(hst)
			w.wcc(f, nil, nil)
			return true
		}
		before, err := f.v.Stat(ctx, f.ino)
		if err == nil {
			err = f.mayUnlink(ctx, &before, name, true)
		}
		if err == nil {
			err = f.v.Remove(ctx, f.ino, name, c.proc == procRmdir)
		}
		w.u32(status(err))
		after, aerr := f.v.Stat(ctx, f.ino)
		w.wcc(f, &before, statOrNil(&after, aerr))
	case procRename:
		fromName := r.string(1024)
		to, tst := s.fileHandle(ctx, c, r)
		toName := r.string(1024)
		if r.err != nil {
			return false
		}
		if hst == nfsOK && tst != nfsOK {
			hst = tst
		}
		if hst == nfsOK && !bytes.Equal(to.id, f.id) {
			hst = errXDev
		}
		if hst != nfsOK {
			w.u32(hst)
			w.wcc(f, nil, nil)
			w.wcc(f, nil, nil)
			return true
		}
		fb, _ := f.v.Stat(ctx, f.ino)
		tb, _ := f.v.Stat(ctx, to.ino)
		err := f.mayRename(ctx, &fb, fromName, &tb, toName)
		if err == nil {
			err = f.v.Rename(ctx, f.ino, fromName, to.ino, toName)
		}
		w.u32(status(err))
		fa, ferr := f.v.Stat(ctx, f.ino)
		ta, terr := f.v.Stat(ctx, to.ino)
		w.wcc(f, &fb, statOrNil(&fa, ferr))
		w.wcc(f, &tb, statOrNil(&ta, terr))
	case procLink:
		dir, dst := s.fileHandle(ctx, c, r)
		name := r.string(1024)
		if r.err != nil {
			return false
		}
		if hst == nfsOK && dst != nfsOK {
			hst = dst
		}
		if hst == nfsOK && !bytes.Equal(dir.id, f.id) {
			hst = errXDev
		}
		if hst != nfsOK {
			w.u32(hst)
			w.bool(false)
			w.wcc(f, nil, nil)
			return true
		}
		db, _ := f.v.Stat(ctx, dir.ino)
		var st unix.Stat_t
		err := dir.allow(ctx, dir.ino, mayWrite|mayExec)
		if err == nil {
			st, err = f.v.Link(ctx, f.ino, dir.ino, name)
		}
		w.u32(status(err))
		w.postOp(f, statOrNil(&st, err))
		da, derr := f.v.Stat(ctx, dir.ino)
		w.wcc(f, &db, statOrNil(&da, derr))
	case procReaddir, procReaddirplus:
		return s.readdir(ctx, c, f, hst, w)
	case procFsstat, procFsinfo, procPathconf:
		if r.err != nil {
			return false
		}
		if hst != nfsOK {
			w.u32(hst)
			w.bool(false)
			return true
		}
		st, err := f.v.Stat(ctx, f.ino)
		w.u32(status(err))
		w.postOp(f, statOrNil(&st, err))
		if err != nil {
			return true
		}
		switch c.proc {
		case procFsstat:
			sp := f.v.Space()
			w.u64(uint64(sp.Bytes))
			w.u64(uint64(sp.FreeBytes))
			w.u64(uint64(sp.FreeBytes))
			w.u64(uint64(sp.Files))
			w.u64(uint64(sp.FreeFiles))
			w.u64(uint64(sp.FreeFiles))
			w.u32(0)
		case procFsinfo:
			w.u32(maxIO) // rtmax
			w.u32(maxIO) // rtpref
			w.u32(4096)  // rtmult
			w.u32(maxIO) // wtmax
			w.u32(maxIO) // wtpref
			w.u32(4096)  // wtmult
			w.u32(64 << 10)
			w.u64(1<<63 - 1)
			w.u32(0)
			w.u32(1)
			w.u32(0x1 | 0x2 | 0x8 | 0x10) // LINK, SYMLINK, HOMOGENEOUS, CANSETTIME
		case procPathconf:
			w.u32(65000) // linkmax
			w.u32(255)   // name_max
			w.bool(true) // no_trunc
			w.bool(true) // chown_restricted
			w.bool(false)
			w.bool(true)
		}
	case procCommit:
		r.u64()
		r.u32()
		if r.err != nil {
			return false
		}
		if hst != nfsOK {
			w.u32(hst)
			w.wcc(f, nil, nil)
			return true
		}
		err := f.v.Commit(ctx, f.ino)
		st, serr := f.v.Stat(ctx, f.ino)
		w.u32(status(err))
		w.wcc(f, nil, statOrNil(&st, serr))
		if err == nil {
			w.fixed(s.verf[:])
		}
	}
	return true
}

// maxIO is the largest READ or WRITE, announced in FSINFO.
const maxIO = 1 << 20

// allow returns EACCES unless f's caller has want on file ino.
func (f fh) allow(ctx context.Context, ino uint64, want uint32) error {
	st, err := f.v.Stat(ctx, ino)
	if err != nil {
		return err
	}
	if !f.who.may(&st, want) {
		return unix.EACCES
	}
	return nil
}

// allowIO is allow for READ and WRITE of f itself (see cred.mayIO).
func (f fh) allowIO(ctx context.Context, want uint32) error {
	st, err := f.v.Stat(ctx, f.ino)
	if err != nil {
		return err
	}
	if !f.who.mayIO(&st, want) {
		return unix.EACCES
	}
	return nil
}

// mayUnlink returns EACCES unless f's caller may take name out of dir
// (which is f): write and search on dir, and the sticky bit's rule. A
// missing name is ENOENT when it must exist, else nothing to check.
func (f fh) mayUnlink(ctx context.Context, dir *unix.Stat_t, name string, mustExist bool) error {
	if !f.who.may(dir, mayWrite|mayExec) {
		return unix.EACCES
	}
	if dir.Mode&unix.S_ISVTX == 0 {
		return nil
	}
	child, err := f.v.Lookup(ctx, dir.Ino, name)
	if errors.Is(err, unix.ENOENT) && !mustExist {
		return nil
	}
	if err != nil {
		return err
	}
	if !f.who.mayUnlink(dir, &child) {
		return unix.EACCES
	}
	return nil
}

// mayRename checks a RENAME from fromName in from (f's file) to toName in
// to: unlinking the source, replacing the target, and, for a directory
// changing parent, writing its "..".
func (f fh) mayRename(ctx context.Context, from *unix.Stat_t, fromName string, to *unix.Stat_t, toName string) error {
	if err := f.mayUnlink(ctx, from, fromName, true); err != nil {
		return err
	}
	if err := f.mayUnlink(ctx, to, toName, false); err != nil {
		return err
	}
	src, err := f.v.Lookup(ctx, from.Ino, fromName)
	if err != nil {
		return err
	}
	if src.Mode&unix.S_IFMT == unix.S_IFDIR && from.Ino != to.Ino && !f.who.may(&src, mayWrite) {
		return unix.EACCES
	}
	return nil
}

func statOrNil(st *unix.Stat_t, err error) *unix.Stat_t {
	if err != nil {
		return nil
	}
	return st
}

// made finishes CREATE, MKDIR and SYMLINK: check that the caller may
// add to the directory and set the attributes it asks for, create (the
// new file belongs to the caller), apply the remaining attributes and
// answer with the new handle. existing is the file an unchecked CREATE
// will open instead, whose attributes it changes.
func (s *Server) made(ctx context.Context, f fh, hst uint32, w *writer, a *filestore.SetAttr, existing *unix.Stat_t, create func(*filestore.Owner) (unix.Stat_t, error)) {
	if hst != nfsOK {
		w.u32(hst)
		w.wcc(f, nil, nil)
		return
	}
	before, berr := f.v.Stat(ctx, f.ino)
	err := berr
	if err == nil && !f.who.may(&before, mayWrite|mayExec) {
		err = unix.EACCES
	}
	var own *filestore.Owner
	if s.chown {
		own = &filestore.Owner{UID: f.who.uid, GID: f.who.gid}
	}
	rest := *a
	rest.Mode = nil // given at creation
	if err == nil {
		target := existing
		if target == nil {
			target = &unix.Stat_t{Uid: f.who.uid, Gid: f.who.gid, Mode: unix.S_IFREG | 0o600}
		}
		err = f.who.setattr(target, rest)
	}
	var st unix.Stat_t
	if err == nil {
		st, err = create(own)
	}
	if err == nil && (rest.Size != nil || rest.UID != nil || rest.GID != nil || rest.Atime != nil || rest.Mtime != nil) {
		_, st, err = f.v.SetAttr(ctx, st.Ino, rest)
	}
	w.u32(status(err))
	if err == nil {
		w.bool(true)
		w.opaque(f.child(st.Ino))
		w.postOp(f, &st)
	}
	after, aerr := f.v.Stat(ctx, f.ino)
	w.wcc(f, statOrNil(&before, berr), statOrNil(&after, aerr))
}

func (s *Server) readdir(ctx context.Context, c *call, f fh, hst uint32, w *writer) bool {
	r := &c.args
	plus := c.proc == procReaddirplus
	cookie := r.u64()
	r.fixed(8) // cookie verifier: cookies are positions, checked by range
	count := r.u32()
	if plus {
		count = r.u32() // maxcount bounds the whole reply
	}
	if r.err != nil {
		return false
	}
	if hst != nfsOK {
		w.u32(hst)
		w.bool(false)
		return true
	}
	if err := f.allow(ctx, f.ino, mayRead); err != nil {
		w.u32(status(err))
		w.postOpOf(ctx, f, f.ino)
		return true
	}
	// Read a page, then keep what fits in count bytes.
	ents, eof, err := f.v.ReadDir(ctx, f.ino, cookie, 1024)
	if err != nil {
		st := status(err)
		if errors.Is(err, unix.EINVAL) {
			st = errBadCookie
		}
		w.u32(st)
		w.postOpOf(ctx, f, f.ino)
		return true
	}
	if count < 1024 {
		count = 1024
	}
	w.u32(nfsOK)
	w.postOpOf(ctx, f, f.ino)
	w.fixed(make([]byte, 8))
	budget := int(count) - 128
	for i, e := range ents {
		size := 24 + (len(e.Name)+3)&^3
		if plus {
			size += 4 + 84 + 4 + 4 + handleLen
		}
		if size > budget {
			eof = false
			if i == 0 {
				*w = *acceptedReply(c.xid, acceptSuccess)
				w.u32(errTooSmall)
				w.bool(false)
				return true
			}
			break
		}
		budget -= size
		w.bool(true)
		w.u64(e.Stat.Ino)
		w.string(e.Name)
		w.u64(e.Cookie)
		if plus {
			st := e.Stat
			w.postOp(f, &st)
			w.bool(true)
			w.opaque(f.child(e.Stat.Ino))
		}
	}
	w.bool(false)
	w.bool(eof)
	return true
}
