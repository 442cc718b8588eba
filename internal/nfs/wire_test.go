package nfs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/filestore"
)

type oneExport struct {
	name      string
	v         FS
	clients   []netip.Prefix
	allowRoot bool
}

func (o oneExport) Resolve(ctx context.Context, name string) (Export, error) {
	if name != o.name {
		return Export{}, errs.E(errs.NotExist, "no export")
	}
	return Export{Volume: o.v, Clients: o.clients, AllowRoot: o.allowRoot}, nil
}

// wire speaks raw ONC RPC to the server, to check status codes that
// command-line clients only summarise.
type wire struct {
	t   *testing.T
	c   net.Conn
	br  *bufio.Reader
	xid uint32
	// The AUTH_UNIX identity calls carry.
	uid, gid uint32
	gids     []uint32
}

func (w *wire) call(prog, proc uint32, args func(*writer)) *reader {
	w.t.Helper()
	w.xid++
	m := &writer{b: make([]byte, 4)}
	m.u32(w.xid)
	m.u32(msgCall)
	m.u32(2)
	m.u32(prog)
	m.u32(3)
	m.u32(proc)
	m.u32(authUnix)
	cred := &writer{}
	cred.u32(0)
	cred.string("test")
	cred.u32(w.uid)
	cred.u32(w.gid)
	cred.u32(uint32(len(w.gids)))
	for _, g := range w.gids {
		cred.u32(g)
	}
	m.opaque(cred.b)
	m.u32(authNone)
	m.u32(0)
	if args != nil {
		args(m)
	}
	if _, err := w.c.Write(m.record()); err != nil {
		w.t.Fatal(err)
	}
	rec, err := readRecord(w.br)
	if err != nil {
		w.t.Fatal(err)
	}
	r := &reader{b: rec}
	if xid := r.u32(); xid != w.xid {
		w.t.Fatalf("xid %d, want %d", xid, w.xid)
	}
	r.u32() // reply
	if st := r.u32(); st != msgAccepted {
		w.t.Fatalf("call denied: %d", st)
	}
	r.u32()
	r.opaque(400)
	if st := r.u32(); st != acceptSuccess {
		w.t.Fatalf("accept status %d", st)
	}
	return r
}

func TestWireStatuses(t *testing.T) {
	ctx := context.Background()
	st, err := filestore.Open(filepath.Join(t.TempDir(), "fs"), filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Create(ctx, "v", 10000); err != nil {
		t.Fatal(err)
	}
	v, err := st.Volume(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	name := ExportPrefix + strings.Repeat("01", 16)
	srv := NewServer(oneExport{name: name, v: v}, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(sctx, ln) }()
	defer func() { cancel(); <-done }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := &wire{t: t, c: c, br: bufio.NewReader(c)}

	r := w.call(progMount, mntMnt, func(m *writer) { m.string("/" + name) })
	if s := r.u32(); s != mnt3OK {
		t.Fatalf("MNT status %d", s)
	}
	root := append([]byte(nil), r.opaque(64)...)
	if s := w.call(progMount, mntMnt, func(m *writer) { m.string("/" + ExportPrefix + strings.Repeat("02", 16)) }).u32(); s != mnt3NoEnt {
		t.Fatalf("MNT of an unknown export: %d", s)
	}

	r = w.call(progNFS, procCreate, func(m *writer) {
		m.opaque(root)
		m.string("f")
		m.u32(uint32(filestore.Guarded))
		for range 6 {
			m.u32(0) // no attributes
		}
	})
	if s := r.u32(); s != nfsOK {
		t.Fatalf("CREATE status %d", s)
	}
	r.bool()
	file := append([]byte(nil), r.opaque(64)...)

	write := func(off uint64, n int) uint32 {
		return w.call(progNFS, procWrite, func(m *writer) {
			m.opaque(file)
			m.u64(off)
			m.u32(uint32(n))
			m.u32(2)
			m.opaque(make([]byte, n))
		}).u32()
	}
	if s := write(0, 8000); s != nfsOK {
		t.Fatalf("WRITE within quota: %d", s)
	}
	if s := write(8000, 4000); s != errDQuot {
		t.Fatalf("WRITE beyond quota: %d, want NFS3ERR_DQUOT", s)
	}
	if s := write(0, 8000); s != nfsOK {
		t.Fatalf("overwrite within the file: %d", s)
	}
	// The file's inode, its name "f" and its two blocks.
	if q, used := v.Quota(); used != 256+12+8192 || q != 10000 {
		t.Fatalf("quota %d used %d", q, used)
	}

	// Names that would leave the directory are refused.
	for _, bad := range []string{"..", "a/b", "", strings.Repeat("x", 256)} {
		r = w.call(progNFS, procMkdir, func(m *writer) {
			m.opaque(root)
			m.string(bad)
			for range 6 {
				m.u32(0)
			}
		})
		if s := r.u32(); s == nfsOK {
			t.Errorf("MKDIR %q succeeded", bad)
		}
	}
	// A forged handle is stale, a short one bad.
	forged := append([]byte(nil), root...)
	forged[0] ^= 1
	if s := w.call(progNFS, procGetattr, func(m *writer) { m.opaque(forged) }).u32(); s != errStale {
		t.Fatalf("GETATTR of a forged handle: %d", s)
	}
	if s := w.call(progNFS, procGetattr, func(m *writer) { m.opaque(root[:8]) }).u32(); s != errBadHandle {
		t.Fatalf("GETATTR of a short handle: %d", s)
	}
	// Procedures that make a name in the handle's directory answer the
	// same: a forged directory has no volume to look in.
	for _, how := range []uint32{uint32(filestore.Unchecked), uint32(filestore.Guarded)} {
		r := w.call(progNFS, procCreate, func(m *writer) {
			m.opaque(forged)
			m.string("f")
			m.u32(how)
			for range 6 {
				m.u32(0)
			}
		})
		if s := r.u32(); s != errStale {
			t.Fatalf("CREATE (mode %d) in a forged directory: %d", how, s)
		}
	}
}

func TestSymlinksAreNotFollowed(t *testing.T) { testSymlinksAreNotFollowed(t, localVolume) }

// testSymlinksAreNotFollowed: a symlink is never a directory to look in,
// create in, list or write, whether it points outside the file system
// or climbs out of the volume by "..".
func testSymlinksAreNotFollowed(t *testing.T, newVolume func(*testing.T) quotaFS) {
	ctx := context.Background()
	v := newVolume(t)
	for i, target := range []string{"/etc", "../..", ".."} {
		name := fmt.Sprintf("link%d", i)
		if _, err := v.Symlink(ctx, v.Root(), name, target, nil); err != nil {
			t.Fatal(err)
		}
		dir, err := v.Lookup(ctx, v.Root(), name)
		if err != nil {
			t.Fatal(err)
		}
		for _, child := range []string{"passwd", "stowage", name} {
			if _, err := v.Lookup(ctx, dir.Ino, child); err == nil {
				t.Fatalf("lookup of %s went through a symlink to %s", child, target)
			}
		}
		if _, err := v.Create(ctx, dir.Ino, "x", 0o644, filestore.Unchecked, [8]byte{}, nil); err == nil {
			t.Fatalf("create went through a symlink to %s", target)
		}
		if _, err := v.Mkdir(ctx, dir.Ino, "y", 0o755, nil); err == nil {
			t.Fatalf("mkdir went through a symlink to %s", target)
		}
		if _, _, err := v.ReadDir(ctx, dir.Ino, 0, 100); err == nil {
			t.Fatalf("readdir went through a symlink to %s", target)
		}
		if _, _, err := v.Write(ctx, dir.Ino, 0, []byte("x"), false); err == nil {
			t.Fatalf("write through a symlink to %s", target)
		}
	}
}

// FuzzCall feeds arbitrary records to the call decoder and every
// procedure, over a real volume: nothing may panic, and nothing may
// appear outside the volume's tree.
func FuzzCall(f *testing.F) {
	mk := func(prog, proc uint32, args func(*writer)) []byte {
		m := &writer{}
		m.u32(1)
		m.u32(msgCall)
		m.u32(2)
		m.u32(prog)
		m.u32(3)
		m.u32(proc)
		m.u32(authNone)
		m.u32(0)
		m.u32(authNone)
		m.u32(0)
		if args != nil {
			args(m)
		}
		return m.b
	}
	name := ExportPrefix + strings.Repeat("01", 16)
	id, _ := exportID(name)
	root := func(m *writer) { m.opaque(handle(id, 0)) }
	f.Add(mk(progMount, mntMnt, func(m *writer) { m.string("/" + name + "/a/../..") }))
	f.Add(mk(progNFS, procGetattr, root))
	f.Add(mk(progNFS, procLookup, func(m *writer) { root(m); m.string("..") }))
	f.Add(mk(progNFS, procCreate, func(m *writer) { root(m); m.string("x"); m.u32(0); m.u32(1); m.u32(0o777) }))
	unknown := append([]byte(nil), id...)
	unknown[0] ^= 1
	f.Add(mk(progNFS, procCreate, func(m *writer) { m.opaque(handle(unknown, 0)); m.string("x"); m.u32(0); m.u32(0) }))
	f.Add(mk(progNFS, procWrite, func(m *writer) { root(m); m.u64(1 << 62); m.u32(3); m.u32(2); m.opaque([]byte("abc")) }))
	f.Add(mk(progNFS, procReaddirplus, func(m *writer) { root(m); m.u64(0); m.fixed(make([]byte, 8)); m.u32(1); m.u32(1) }))
	f.Add(mk(progNFS, procSymlink, func(m *writer) { root(m); m.string("l"); m.u32(0); m.string("/etc") }))
	f.Add(mk(progNFS, procRename, func(m *writer) { root(m); m.string("x"); root(m); m.string("../y") }))

	ctx := context.Background()
	base := f.TempDir()
	st, err := filestore.Open(filepath.Join(base, "fs"), filestore.Options{})
	if err != nil {
		f.Fatal(err)
	}
	if err := st.Create(ctx, "v", 1<<20); err != nil {
		f.Fatal(err)
	}
	v, _ := st.Volume(ctx, "v")
	srv := NewServer(oneExport{name: name, v: v}, Options{})
	f.Fuzz(func(t *testing.T, rec []byte) {
		// Handles in the corpus say file id 0: make them name the root.
		rec = bytes.ReplaceAll(rec, handle(id, 0), handle(id, v.Root()))
		c, ok, rejected := parseCall(rec)
		if !ok || rejected != nil {
			return
		}
		c.peer = netip.IPv6Loopback()
		srv.dispatch(ctx, &c).record()
		ents, _ := os.ReadDir(base)
		if len(ents) != 1 {
			t.Fatalf("something appeared beside the store: %v", ents)
		}
	})
}
