package nfs

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"testing"
)

// needRoot skips tests that need the server to give files away, which
// only a server running as root can (as root, it checks each caller).
func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the server must run as root to own files as its callers")
	}
}

// sattr is an NFS sattr3 with the fields a test sets.
type sattr struct{ mode, uid, gid *uint32 }

func u32p(v uint32) *uint32 { return &v }

func (a sattr) put(m *writer) {
	for _, f := range []*uint32{a.mode, a.uid, a.gid} {
		m.bool(f != nil)
		if f != nil {
			m.u32(*f)
		}
	}
	m.bool(false) // size
	m.u32(0)      // atime: don't change
	m.u32(0)      // mtime
}

// as makes the next calls on w carry this identity.
func (w *wire) as(uid, gid uint32, gids ...uint32) *wire {
	w.uid, w.gid, w.gids = uid, gid, gids
	return w
}

func (w *wire) mount(name string) []byte {
	w.t.Helper()
	r := w.call(progMount, mntMnt, func(m *writer) { m.string("/" + name) })
	if st := r.u32(); st != mnt3OK {
		w.t.Fatalf("MNT: %d", st)
	}
	return append([]byte(nil), r.opaque(64)...)
}

func (w *wire) create(dir []byte, name string, a sattr) (uint32, []byte) {
	r := w.call(progNFS, procCreate, func(m *writer) {
		m.opaque(dir)
		m.string(name)
		m.u32(0) // UNCHECKED
		a.put(m)
	})
	st := r.u32()
	if st != nfsOK {
		return st, nil
	}
	r.bool()
	return st, append([]byte(nil), r.opaque(64)...)
}

func (w *wire) mkdir(dir []byte, name string, a sattr) (uint32, []byte) {
	r := w.call(progNFS, procMkdir, func(m *writer) {
		m.opaque(dir)
		m.string(name)
		a.put(m)
	})
	st := r.u32()
	if st != nfsOK {
		return st, nil
	}
	r.bool()
	return st, append([]byte(nil), r.opaque(64)...)
}

// attrs is the part of fattr3 the tests look at.
type attrs struct{ mode, uid, gid uint32 }

func (w *wire) getattr(fh []byte) attrs {
	w.t.Helper()
	r := w.call(progNFS, procGetattr, func(m *writer) { m.opaque(fh) })
	if st := r.u32(); st != nfsOK {
		w.t.Fatalf("GETATTR: %d", st)
	}
	r.u32() // type
	var a attrs
	a.mode = r.u32()
	r.u32() // nlink
	a.uid, a.gid = r.u32(), r.u32()
	return a
}

func (w *wire) setattr(fh []byte, a sattr) uint32 {
	return w.call(progNFS, procSetattr, func(m *writer) {
		m.opaque(fh)
		a.put(m)
		m.bool(false) // no guard
	}).u32()
}

func (w *wire) read(fh []byte) uint32 {
	return w.call(progNFS, procRead, func(m *writer) { m.opaque(fh); m.u64(0); m.u32(10) }).u32()
}

func (w *wire) write(fh []byte, data string) uint32 {
	return w.call(progNFS, procWrite, func(m *writer) {
		m.opaque(fh)
		m.u64(0)
		m.u32(uint32(len(data)))
		m.u32(2)
		m.opaque([]byte(data))
	}).u32()
}

func (w *wire) remove(dir []byte, name string) uint32 {
	return w.call(progNFS, procRemove, func(m *writer) { m.opaque(dir); m.string(name) }).u32()
}

func (w *wire) lookup(dir []byte, name string) uint32 {
	return w.call(progNFS, procLookup, func(m *writer) { m.opaque(dir); m.string(name) }).u32()
}

// access returns the ACCESS bits granted of all six asked.
func (w *wire) access(fh []byte) uint32 {
	w.t.Helper()
	r := w.call(progNFS, procAccess, func(m *writer) { m.opaque(fh); m.u32(0x3f) })
	if st := r.u32(); st != nfsOK {
		w.t.Fatalf("ACCESS: %d", st)
	}
	if r.bool() {
		r.fixed(84)
	}
	return r.u32()
}

// Calls are checked against the AUTH_UNIX identity as a local file
// system checks a process: owner, group (supplementary groups too) and
// other bits; root is nobody unless the export allows root; setuid and
// setgid bits from clients are dropped; only root gives files away.
func TestPermissionChecks(t *testing.T) { testPermissionChecks(t, localVolume) }

func testPermissionChecks(t *testing.T, newVolume func(*testing.T) quotaFS) {
	needRoot(t)
	s := serveOn(t, Options{}, oneExport{}, newVolume)
	c := dialFrom(t, "127.0.0.1", s.addr)
	w := &wire{t: t, c: c, br: bufio.NewReader(c)}
	root := w.as(1000, 1000).mount(s.name)

	// The volume's top is open to all, sticky; what a user makes there
	// is theirs, without setuid or setgid.
	st, a := w.create(root, "a", sattr{mode: u32p(0o6755)})
	if st != nfsOK {
		t.Fatalf("CREATE as uid 1000 in the volume's top: %d", st)
	}
	if got := w.getattr(a); got != (attrs{mode: 0o755, uid: 1000, gid: 1000}) {
		t.Fatalf("new file: mode %o uid %d gid %d, want 755 1000 1000", got.mode, got.uid, got.gid)
	}
	if st := w.setattr(a, sattr{mode: u32p(0o4777)}); st != nfsOK {
		t.Fatalf("chmod by the owner: %d", st)
	}
	if got := w.getattr(a).mode; got != 0o777 {
		t.Fatalf("mode after chmod 4777: %o, want 777 (setuid dropped)", got)
	}
	if st := w.setattr(a, sattr{uid: u32p(0)}); st != errPerm {
		t.Fatalf("chown to root by uid 1000: %d, want NFS3ERR_PERM", st)
	}
	if st := w.setattr(a, sattr{gid: u32p(0)}); st != errPerm {
		t.Fatalf("chgrp to a group the owner is not in: %d, want NFS3ERR_PERM", st)
	}
	if st := w.setattr(a, sattr{mode: u32p(0o600)}); st != nfsOK {
		t.Fatalf("chmod 600 by the owner: %d", st)
	}
	if got := w.write(a, "mine"); got != nfsOK {
		t.Fatalf("owner writes: %d", got)
	}
	if got := w.access(a); got != accessRead|accessModify|accessExtend {
		t.Fatalf("ACCESS for the owner of a 600 file: %#x", got)
	}

	// Another user, and root squashed to nobody, get nothing of a 600
	// file, and may not remove it from the sticky top.
	for _, who := range []struct {
		name     string
		uid, gid uint32
	}{{"uid 2000", 2000, 2000}, {"root (squashed)", 0, 0}} {
		w.as(who.uid, who.gid)
		if st := w.read(a); st != errAcces {
			t.Errorf("%s reads another's 600 file: %d, want NFS3ERR_ACCES", who.name, st)
		}
		if st := w.write(a, "theirs"); st != errAcces {
			t.Errorf("%s writes another's 600 file: %d, want NFS3ERR_ACCES", who.name, st)
		}
		if st := w.setattr(a, sattr{mode: u32p(0o666)}); st != errPerm {
			t.Errorf("%s chmods another's file: %d, want NFS3ERR_PERM", who.name, st)
		}
		if st := w.setattr(a, sattr{uid: u32p(who.uid)}); st != errPerm {
			t.Errorf("%s takes another's file: %d, want NFS3ERR_PERM", who.name, st)
		}
		if got := w.access(a); got != 0 {
			t.Errorf("ACCESS for %s on another's 600 file: %#x, want 0", who.name, got)
		}
		if st := w.remove(root, "a"); st != errAcces {
			t.Errorf("%s removes another's file from a sticky directory: %d, want NFS3ERR_ACCES", who.name, st)
		}
	}
	// What squashed root makes belongs to nobody.
	w.as(0, 0)
	if st, r := w.create(root, "r", sattr{}); st != nfsOK {
		t.Fatalf("CREATE as squashed root: %d", st)
	} else if got := w.getattr(r); got.uid != nobody || got.gid != nobody {
		t.Fatalf("squashed root's file belongs to %d:%d, want %d:%d", got.uid, got.gid, nobody, nobody)
	}

	// Group bits apply through supplementary groups.
	w.as(1000, 1000)
	if st := w.setattr(a, sattr{mode: u32p(0o640)}); st != nfsOK {
		t.Fatal(st)
	}
	if st := w.as(2000, 2000, 1000).read(a); st != nfsOK {
		t.Fatalf("read by a member of the file's group: %d", st)
	}
	if st := w.write(a, "x"); st != errAcces {
		t.Fatalf("write by a member of the file's group with 640: %d", st)
	}
	if st := w.as(2000, 2000).read(a); st != errAcces {
		t.Fatalf("read by a non-member with 640: %d", st)
	}

	// A private directory cannot be searched or listed into.
	w.as(1000, 1000)
	st, d := w.mkdir(root, "private", sattr{mode: u32p(0o2700)})
	if st != nfsOK {
		t.Fatalf("MKDIR: %d", st)
	}
	if got := w.getattr(d).mode; got != 0o700 {
		t.Fatalf("directory mode %o, want 700 (setgid dropped)", got)
	}
	if st, _ := w.create(d, "f", sattr{}); st != nfsOK {
		t.Fatalf("owner creates in own directory: %d", st)
	}
	w.as(2000, 2000)
	if st := w.lookup(d, "f"); st != errAcces {
		t.Fatalf("LOOKUP in another's 700 directory: %d, want NFS3ERR_ACCES", st)
	}
	if st, _ := w.create(d, "g", sattr{}); st != errAcces {
		t.Fatalf("CREATE in another's 700 directory: %d, want NFS3ERR_ACCES", st)
	}
	if st := w.remove(d, "f"); st != errAcces {
		t.Fatalf("REMOVE in another's 700 directory: %d, want NFS3ERR_ACCES", st)
	}
	if st := w.as(1000, 1000).remove(root, "a"); st != nfsOK {
		t.Fatalf("owner removes own file: %d", st)
	}
}

// An export that allows root treats uid 0 as root: it reads anything and
// gives files away.
func TestRootAllowedPerExport(t *testing.T) { testRootAllowedPerExport(t, localVolume) }

func testRootAllowedPerExport(t *testing.T, newVolume func(*testing.T) quotaFS) {
	needRoot(t)
	s := serveOn(t, Options{}, oneExport{allowRoot: true}, newVolume)
	c := dialFrom(t, "127.0.0.1", s.addr)
	w := &wire{t: t, c: c, br: bufio.NewReader(c)}
	root := w.as(1000, 1000).mount(s.name)
	st, a := w.create(root, "a", sattr{mode: u32p(0o600)})
	if st != nfsOK {
		t.Fatal(st)
	}
	w.as(0, 0)
	if st := w.read(a); st != nfsOK {
		t.Fatalf("root reads with root allowed: %d", st)
	}
	if st := w.setattr(a, sattr{uid: u32p(3000)}); st != nfsOK {
		t.Fatalf("root chowns with root allowed: %d", st)
	}
	if got := w.getattr(a).uid; got != 3000 {
		t.Fatalf("owner %d after chown, want 3000", got)
	}
	if st, r := w.create(root, "r", sattr{}); st != nfsOK || w.getattr(r).uid != 0 {
		t.Fatalf("root's new file with root allowed: %d", st)
	}
}

// nonLoopback is an IPv4 address of this host other than loopback, or
// "" if it has none.
func nonLoopback(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			return p.Addr().String()
		}
	}
	return ""
}

// An export serves only the addresses of the instance it is attached
// to; with none, only the node itself.
func TestExportsServeOnlyTheirClients(t *testing.T) { testExportsServeOnlyTheirClients(t, localVolume) }

func testExportsServeOnlyTheirClients(t *testing.T, newVolume func(*testing.T) quotaFS) {
	for _, tc := range []struct {
		name    string
		clients []netip.Prefix
		ok, bad string
	}{
		{"no addresses: loopback only", nil, "127.0.0.1", nonLoopback(t)},
		{"one address", []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, "127.0.0.2", "127.0.0.1"},
		{"a network", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/30")}, "127.0.0.3", "127.0.0.4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serveOn(t, Options{}, oneExport{clients: tc.clients}, newVolume)
			c := dialFrom(t, tc.ok, s.addr)
			w := &wire{t: t, c: c, br: bufio.NewReader(c)}
			root := w.mount(s.name)
			if tc.bad == "" {
				t.Log("no address of this host but loopback to call from")
				return
			}
			c = dialFrom(t, tc.bad, s.addr)
			w = &wire{t: t, c: c, br: bufio.NewReader(c)}
			if st := w.call(progMount, mntMnt, func(m *writer) { m.string("/" + s.name) }).u32(); st != mnt3Acces {
				t.Fatalf("MNT from %s: %d, want MNT3ERR_ACCES", tc.bad, st)
			}
			if st := w.call(progNFS, procGetattr, func(m *writer) { m.opaque(root) }).u32(); st != errAcces {
				t.Fatalf("GETATTR from %s with a handle: %d, want NFS3ERR_ACCES", tc.bad, st)
			}
		})
	}
}
