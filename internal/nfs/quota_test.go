package nfs

import (
	"bufio"
	"fmt"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/filestore"
)

func (w *wire) symlink(dir []byte, name, target string) uint32 {
	return w.call(progNFS, procSymlink, func(m *writer) {
		m.opaque(dir)
		m.string(name)
		sattr{}.put(m)
		m.string(target)
	}).u32()
}

// fsstat is the part of FSSTAT3resok the tests read.
type fsstat struct{ tbytes, fbytes, abytes, tfiles, ffiles, afiles uint64 }

func (w *wire) fsstat(fh []byte) fsstat {
	w.t.Helper()
	r := w.call(progNFS, procFsstat, func(m *writer) { m.opaque(fh) })
	if st := r.u32(); st != nfsOK {
		w.t.Fatalf("FSSTAT: %d", st)
	}
	if r.bool() {
		r.fixed(84)
	}
	return fsstat{r.u64(), r.u64(), r.u64(), r.u64(), r.u64(), r.u64()}
}

// Symlinks, directories and empty files all count against a volume's
// quota and its inode limit over NFS (the finding: 3000 symlinks with
// 4000-byte targets put 15 MB into a 4 MiB volume), and FSSTAT says
// how much is left, in bytes and files.
func TestQuotaCountsEverything(t *testing.T) { testQuotaCountsEverything(t, localVolume, true) }

// testQuotaCountsEverything runs on a 1 MiB volume from newVolume;
// dirsCost says whether a directory costs bytes (a block on a local
// file system) or only its inode (CephFS).
func testQuotaCountsEverything(t *testing.T, newVolume func(*testing.T) quotaFS, dirsCost bool) {
	s := serveOn(t, Options{}, oneExport{}, newVolume)
	c := dialFrom(t, "127.0.0.1", s.addr)
	w := &wire{t: t, c: c, br: bufio.NewReader(c)}
	root := w.as(1000, 1000).mount(s.name)
	const quota = 1 << 20
	target := strings.Repeat("t", 4000)
	n := 0
	for ; n < 1000; n++ {
		st := w.symlink(root, fmt.Sprintf("l%04d", n), target)
		if st == errDQuot {
			break
		}
		if st != nfsOK {
			t.Fatalf("SYMLINK %d: %d", n, st)
		}
	}
	if n*4000 > quota {
		t.Fatalf("%d symlinks of 4000 bytes fit in a %d-byte volume", n, quota)
	}
	q, used := s.v.Quota()
	fs := w.fsstat(root)
	if fs.tbytes != quota || fs.fbytes != uint64(q-used) || fs.abytes != fs.fbytes {
		t.Fatalf("FSSTAT bytes %d/%d/%d, want %d total and %d free", fs.tbytes, fs.fbytes, fs.abytes, quota, q-used)
	}
	if fs.tfiles != uint64(filestore.MaxInodes(quota)) || fs.ffiles != fs.tfiles-uint64(n) || fs.afiles != fs.ffiles {
		t.Fatalf("FSSTAT files %d/%d/%d after %d symlinks", fs.tfiles, fs.ffiles, fs.afiles, n)
	}
	if st, _ := w.mkdir(root, "d", sattr{}); dirsCost && st != errDQuot {
		t.Fatalf("MKDIR in a full volume: %d, want NFS3ERR_DQUOT", st)
	} else if !dirsCost {
		if st != nfsOK {
			t.Fatalf("MKDIR in a volume full of bytes: %d", st)
		}
		if st := w.call(progNFS, procRmdir, func(m *writer) { m.opaque(root); m.string("d") }).u32(); st != nfsOK {
			t.Fatalf("RMDIR: %d", st)
		}
	}
	for i := range n {
		if st := w.remove(root, fmt.Sprintf("l%04d", i)); st != nfsOK {
			t.Fatalf("REMOVE: %d", st)
		}
	}
	// Empty files stop at the inode limit.
	files := 0
	for ; files <= int(fs.tfiles); files++ {
		st, _ := w.create(root, fmt.Sprintf("f%05d", files), sattr{})
		if st == errDQuot {
			break
		}
		if st != nfsOK {
			t.Fatalf("CREATE %d: %d", files, st)
		}
	}
	if files != int(fs.tfiles) {
		t.Fatalf("%d empty files made, the limit is %d", files, fs.tfiles)
	}
	if fs := w.fsstat(root); fs.ffiles != 0 {
		t.Fatalf("FSSTAT free files %d at the limit", fs.ffiles)
	}
}

// The node's disk reserve applies to NFS: a create or a growing write
// that would eat into it is NFS3ERR_NOSPC, and FSSTAT has no free bytes.
func TestDiskReserveAppliesOverNFS(t *testing.T) {
	s := serveStore(t, Options{}, oneExport{}, filestore.Options{Reserve: 1 << 62})
	c := dialFrom(t, "127.0.0.1", s.addr)
	w := &wire{t: t, c: c, br: bufio.NewReader(c)}
	root := w.as(1000, 1000).mount(s.name)
	if st, _ := w.create(root, "f", sattr{}); st != errNoSpc {
		t.Fatalf("CREATE into the disk reserve: %d, want NFS3ERR_NOSPC", st)
	}
	if st := w.symlink(root, "l", "x"); st != errNoSpc {
		t.Fatalf("SYMLINK into the disk reserve: %d, want NFS3ERR_NOSPC", st)
	}
	if fs := w.fsstat(root); fs.fbytes != 0 || fs.abytes != 0 {
		t.Fatalf("FSSTAT free bytes %d/%d with the disk in reserve", fs.fbytes, fs.abytes)
	}
}
