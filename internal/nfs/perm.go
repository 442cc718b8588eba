package nfs

import (
	"net/netip"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/internal/filestore"
)

// nobody is who root and anonymous callers become, as Linux's default
// anonuid and anongid.
const nobody = 65534

// Permission bits asked of a file, as in its mode.
const (
	mayRead  = 4
	mayWrite = 2
	mayExec  = 1
)

// ACCESS3 bits (RFC 1813 section 3.3.4).
const (
	accessRead    = 0x01
	accessLookup  = 0x02
	accessModify  = 0x04
	accessExtend  = 0x08
	accessDelete  = 0x10
	accessExecute = 0x20
)

// cred is the identity a call acts as, after squashing.
type cred struct {
	uid, gid uint32
	gids     []uint32
}

// credOf is the identity of call c on export ex. AUTH_NONE callers are
// nobody. Root is squashed to nobody, in its groups too, unless the
// export allows root. A server that cannot give files away (it does not
// run as root) maps every caller to its own identity, the owner of every
// file it makes: the mode bits still apply, users are not told apart.
func (s *Server) credOf(c *call, ex Export) cred {
	if !s.chown {
		return cred{uid: uint32(s.euid), gid: uint32(s.egid)}
	}
	if !c.hasUnix {
		return cred{uid: nobody, gid: nobody}
	}
	cr := cred{uid: c.uid, gid: c.gid, gids: c.gids}
	if ex.AllowRoot {
		return cr
	}
	if cr.uid == 0 {
		cr.uid = nobody
	}
	if cr.gid == 0 {
		cr.gid = nobody
	}
	if slices.Contains(cr.gids, 0) {
		cr.gids = slices.Clone(cr.gids)
		for i, g := range cr.gids {
			if g == 0 {
				cr.gids[i] = nobody
			}
		}
	}
	return cr
}

func (cr cred) root() bool { return cr.uid == 0 }

func (cr cred) owns(st *unix.Stat_t) bool { return cr.root() || st.Uid == cr.uid }

func (cr cred) inGroup(g uint32) bool { return g == cr.gid || slices.Contains(cr.gids, g) }

// may says whether cr has every permission in want on st by its owner,
// group and other bits, as a local file system decides. Root may do
// anything but execute a file nobody may execute.
func (cr cred) may(st *unix.Stat_t, want uint32) bool {
	if cr.root() {
		return want&mayExec == 0 || st.Mode&unix.S_IFMT == unix.S_IFDIR || st.Mode&0o111 != 0
	}
	bits := st.Mode
	switch {
	case st.Uid == cr.uid:
		bits >>= 6
	case cr.inGroup(st.Gid):
		bits >>= 3
	}
	return bits&want == want
}

// mayIO is may for READ and WRITE, which a file's owner passes whatever
// the mode: a client checks permission when a file is opened, and a file
// created read-only, or made so while open, must stay usable through
// that open (Linux's server does the same). READ is also allowed to
// whoever may execute the file, which is how an executable gets loaded.
func (cr cred) mayIO(st *unix.Stat_t, want uint32) bool {
	if st.Uid == cr.uid || cr.may(st, want) {
		return true
	}
	return want == mayRead && cr.may(st, mayExec)
}

// access answers ACCESS truthfully: the bits of want that cr has on st.
func (cr cred) access(st *unix.Stat_t, want uint32) uint32 {
	var got uint32
	if cr.may(st, mayRead) {
		got |= accessRead
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if cr.may(st, mayExec) {
			got |= accessLookup
		}
		if cr.may(st, mayWrite|mayExec) {
			got |= accessModify | accessExtend | accessDelete
		}
	} else {
		if cr.may(st, mayWrite) {
			got |= accessModify | accessExtend
		}
		if cr.may(st, mayExec) {
			got |= accessExecute
		}
	}
	return got & want
}

// mayUnlink says whether cr may remove or rename away child from dir,
// given write and search permission on dir: in a sticky directory only
// the child's owner, the directory's owner and root may.
func (cr cred) mayUnlink(dir, child *unix.Stat_t) bool {
	return dir.Mode&unix.S_ISVTX == 0 || cr.owns(dir) || cr.owns(child)
}

// setattr returns EPERM or EACCES unless cr may make the changes a asks
// of st, by the rules of chmod, chown, truncate and utimes: only the
// owner changes the mode or sets a time of its choosing, only root gives
// a file away, the owner may change the group to one of its own, and a
// writer may truncate and touch.
func (cr cred) setattr(st *unix.Stat_t, a filestore.SetAttr) error {
	if cr.root() {
		return nil
	}
	owner := st.Uid == cr.uid
	switch {
	case a.Mode != nil && !owner:
		return unix.EPERM
	case a.UID != nil && *a.UID != st.Uid:
		return unix.EPERM
	case a.GID != nil && *a.GID != st.Gid && !(owner && cr.inGroup(*a.GID)):
		return unix.EPERM
	case a.Size != nil && !cr.mayIO(st, mayWrite):
		return unix.EACCES
	}
	for _, t := range []*time.Time{a.Atime, a.Mtime} {
		switch {
		case t == nil || owner:
		case t.IsZero(): // the server's time, which a writer may set
			if !cr.may(st, mayWrite) {
				return unix.EACCES
			}
		default:
			return unix.EPERM
		}
	}
	return nil
}

// clientAllowed says whether a client at peer may use ex: one of the
// addresses of the instance it is attached to, or, when the instance
// has none, the node itself.
func clientAllowed(ex Export, peer netip.Addr) bool {
	if len(ex.Clients) == 0 {
		return peer.IsLoopback()
	}
	for _, p := range ex.Clients {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}
