package nfs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/filestore"
	"github.com/stowage/stowage/internal/nfs"
)

// volumes is a store of filesystem volumes as these tests use one: the
// local file store here, CephFS in ceph_test.go.
type volumes interface {
	Create(ctx context.Context, id string, size int64) error
	Grow(ctx context.Context, id string, size int64) error
	Delete(ctx context.Context, id string) error
	Usage(ctx context.Context, id string) (used, quota int64, err error)
	Open(ctx context.Context, id string) (nfs.FS, error)
	Close() error
}

// backend makes a store for one test. overhead is what usage may count
// per file besides its contents (the local store counts what a file
// costs on disk, Ceph the contents alone).
type backend struct {
	open     func(t testing.TB) volumes
	overhead int64
}

// localStore is the file store on the node's disk.
type localStore struct{ *filestore.Store }

func (l localStore) Open(ctx context.Context, id string) (nfs.FS, error) {
	v, err := l.Volume(ctx, id)
	if err != nil {
		return nil, err
	}
	return v, nil
}

var local = backend{open: func(t testing.TB) volumes {
	fst, err := filestore.Open(filepath.Join(t.TempDir(), "fs"), filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return localStore{fst}
}, overhead: 256 + 24 + 4096}

// exportsOf serves named volumes of a real store; Revoke-able.
type exportsOf struct {
	fs        volumes
	mu        sync.Mutex
	names     map[string]string
	allowRoot bool
}

func (e *exportsOf) Resolve(ctx context.Context, name string) (nfs.Export, error) {
	e.mu.Lock()
	id, ok := e.names[name]
	e.mu.Unlock()
	if !ok {
		return nfs.Export{}, errs.E(errs.NotExist, "no export")
	}
	v, err := e.fs.Open(ctx, id)
	return nfs.Export{Volume: v, AllowRoot: e.allowRoot}, err
}

type fixture struct {
	t      testing.TB
	b      backend
	addr   *net.TCPAddr
	srv    *nfs.Server
	ex     *exportsOf
	fs     volumes
	vol    string // the volume's id in fs
	export string
	tmp    string
}

func start(t testing.TB, quota int64) *fixture { return startOn(t, local, quota) }

// startOn serves a new volume of quota bytes from a new store of b; the
// volume is deleted when the test ends.
func startOn(t testing.TB, b backend, quota int64) *fixture {
	t.Helper()
	for _, tool := range []string{"nfs-cp", "nfs-ls", "nfs-cat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (make test-deps installs libnfs-utils): %v", tool, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	fst := b.open(t)
	id := "vol-" + hex.EncodeToString(random(8))
	if err := fst.Create(ctx, id, quota); err != nil {
		t.Fatal(err)
	}
	name := nfs.ExportPrefix + hex.EncodeToString(random(16))
	ex := &exportsOf{fs: fst, names: map[string]string{name: id}}
	srv := nfs.NewServer(ex, nfs.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := fst.Delete(context.Background(), id); err != nil {
			t.Errorf("delete the volume: %v", err)
		}
		fst.Close()
	})
	return &fixture{t: t, b: b, addr: ln.Addr().(*net.TCPAddr), srv: srv, ex: ex, fs: fst, vol: id, export: name, tmp: t.TempDir()}
}

// secondNode serves the fixture's volume under the same export name from
// a second store of b, as another node of a cluster would.
func (f *fixture) secondNode(b backend) *fixture {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	fst := b.open(f.t)
	ex := &exportsOf{fs: fst, names: map[string]string{f.export: f.vol}}
	srv := nfs.NewServer(ex, nfs.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	f.t.Cleanup(func() {
		cancel()
		<-done
		fst.Close()
	})
	return &fixture{t: f.t, b: b, addr: ln.Addr().(*net.TCPAddr), srv: srv, ex: ex, fs: fst, vol: f.vol, export: f.export, tmp: f.tmp}
}

// volume opens the fixture's volume as the server sees it.
func (f *fixture) volume() nfs.FS {
	f.t.Helper()
	v, err := f.fs.Open(context.Background(), f.vol)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

// usageWithin waits until the volume's usage is in [lo, hi]: Ceph counts
// what its MDS has heard of, a moment after the writes.
func (f *fixture) usageWithin(lo, hi int64) {
	f.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		used, _, err := f.fs.Usage(context.Background(), f.vol)
		if err == nil && used >= lo && used <= hi {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("usage %d (%v), want [%d, %d]", used, err, lo, hi)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// url is libnfs's form of nfs://HOST:PORT/EXPORT/path.
func (f *fixture) url(p string) string {
	return fmt.Sprintf("nfs://127.0.0.1/%s%s?nfsport=%d&mountport=%d&version=3", f.export, p, f.addr.Port, f.addr.Port)
}

func (f *fixture) run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func (f *fixture) must(name string, args ...string) string {
	f.t.Helper()
	out, err := f.run(name, args...)
	if err != nil {
		f.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

func (f *fixture) local(name string, data []byte) string {
	p := filepath.Join(f.tmp, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func TestCopyInOutListAndQuota(t *testing.T) { testCopyInOutListAndQuota(t, local) }

func testCopyInOutListAndQuota(t *testing.T, b backend) {
	f := startOn(t, b, 8<<20)
	ctx := context.Background()
	small := []byte("hello over nfs\n")
	big := random(3<<20 + 12345)
	f.must("nfs-cp", f.local("small.txt", small), f.url("/small.txt"))
	f.must("nfs-cp", f.local("big.bin", big), f.url("/big.bin"))

	if got := f.must("nfs-cat", f.url("/small.txt")); got != string(small) {
		t.Fatalf("nfs-cat = %q", got)
	}
	back := filepath.Join(f.tmp, "back.bin")
	f.must("nfs-cp", f.url("/big.bin"), back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, big) {
		t.Fatalf("big.bin came back different (%d bytes)", len(got))
	}
	ls := f.must("nfs-ls", f.url(""))
	for _, want := range []string{"small.txt", "big.bin"} {
		if !strings.Contains(ls, want) {
			t.Fatalf("nfs-ls lacks %s:\n%s", want, ls)
		}
	}
	// The data, and for each file at most what the store counts
	// besides (an inode, a name and the rest of its last block on the
	// local one).
	data := int64(len(small) + len(big))
	f.usageWithin(data, data+2*b.overhead)

	// 5 MiB more does not fit in 8 MiB: the copy fails with a quota
	// error and the files already there are untouched.
	out, err := f.run("nfs-cp", f.local("over.bin", random(5<<20)), f.url("/over.bin"))
	if err == nil {
		t.Fatalf("copy beyond the quota succeeded:\n%s", out)
	}
	os.Remove(back)
	f.must("nfs-cp", f.url("/big.bin"), back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, big) {
		t.Fatal("big.bin changed after the failed copy")
	}
	used, quota, _ := f.fs.Usage(ctx, f.vol)
	if used > quota {
		t.Fatalf("usage %d beyond quota %d", used, quota)
	}

	// Growing the quota online lets the same copy through.
	if err := f.fs.Grow(ctx, f.vol, 16<<20); err != nil {
		t.Fatal(err)
	}
	f.must("nfs-cp", f.local("over.bin", random(5<<20)), f.url("/over2.bin"))
}

func TestRevokedExportAndUnknownNames(t *testing.T) { testRevokedExportAndUnknownNames(t, local) }

func testRevokedExportAndUnknownNames(t *testing.T, b backend) {
	f := startOn(t, b, 1<<20)
	f.must("nfs-cp", f.local("a", []byte("a")), f.url("/a"))
	// A name that was never exported and a revoked one look the same.
	bad := fmt.Sprintf("nfs://127.0.0.1/%s/a?nfsport=%d&mountport=%d&version=3", nfs.ExportPrefix+strings.Repeat("cd", 16), f.addr.Port, f.addr.Port)
	if out, err := f.run("nfs-cat", bad); err == nil {
		t.Fatalf("unknown export served: %s", out)
	}
	f.ex.mu.Lock()
	delete(f.ex.names, f.export)
	f.ex.mu.Unlock()
	f.srv.Revoke(context.Background(), f.export)
	if out, err := f.run("nfs-cat", f.url("/a")); err == nil {
		t.Fatalf("revoked export served: %s", out)
	}
}

// as is url with the AUTH_UNIX identity libnfs should send.
func as(url string, uid, gid int) string { return fmt.Sprintf("%s&uid=%d&gid=%d", url, uid, gid) }

// A real client as an ordinary user cannot read or overwrite a root
// file of mode 0600 (the finding: uid 1000 read and wrote one), nor can
// root, which is squashed to nobody, until the export allows root.
// What a user copies in belongs to that user.
func TestPermissionsThroughLibnfs(t *testing.T) { testPermissionsThroughLibnfs(t, local) }

func testPermissionsThroughLibnfs(t *testing.T, b backend) {
	if os.Geteuid() != 0 {
		t.Skip("the server must run as root to own files as its callers")
	}
	f := startOn(t, b, 1<<20)
	ctx := context.Background()
	v := f.volume()
	// Made by the node itself: owned by root.
	st, err := v.Create(ctx, v.Root(), "secret", 0o600, filestore.Guarded, [8]byte{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Write(ctx, st.Ino, 0, []byte("root only\n"), true); err != nil {
		t.Fatal(err)
	}
	for _, who := range []struct {
		name     string
		uid, gid int
	}{{"uid 1000", 1000, 1000}, {"root", 0, 0}} {
		if out, err := f.run("nfs-cat", as(f.url("/secret"), who.uid, who.gid)); err == nil || strings.Contains(out, "root only") {
			t.Errorf("%s read a root 0600 file:\n%s", who.name, out)
		}
		if out, err := f.run("nfs-cp", f.local("evil", []byte("overwritten\n")), as(f.url("/secret"), who.uid, who.gid)); err == nil {
			t.Errorf("%s overwrote a root 0600 file:\n%s", who.name, out)
		}
	}
	buf := make([]byte, 64)
	if n, _, _, err := v.Read(ctx, st.Ino, 0, buf); err != nil || string(buf[:n]) != "root only\n" {
		t.Fatalf("the root file now holds %q (%v)", buf[:n], err)
	}

	f.must("nfs-cp", f.local("mine", []byte("mine\n")), as(f.url("/mine"), 1000, 1000))
	mine, err := v.Lookup(ctx, v.Root(), "mine")
	if err != nil || mine.Uid != 1000 || mine.Gid != 1000 {
		t.Fatalf("a file copied in by uid 1000 belongs to %d:%d (%v)", mine.Uid, mine.Gid, err)
	}
	if got := f.must("nfs-cat", as(f.url("/mine"), 1000, 1000)); got != "mine\n" {
		t.Fatalf("owner reads back %q", got)
	}

	f.ex.mu.Lock()
	f.ex.allowRoot = true
	f.ex.mu.Unlock()
	f.srv.Revoke(ctx, f.export) // forget the cached export
	if got := f.must("nfs-cat", as(f.url("/secret"), 0, 0)); got != "root only\n" {
		t.Fatalf("root reads %q with root allowed", got)
	}
}

// BenchmarkCopy measures nfs-cp of 256 MiB in and out against a plain
// local copy of the same file measured in the same run.
func BenchmarkCopy(b *testing.B) { benchCopy(b, local, 256) }

// benchCopy is BenchmarkCopy on a volume of bk with a file of mib MiB.
func benchCopy(b *testing.B, bk backend, mib int) {
	f := startOn(b, bk, 1<<40)
	src := f.local("src.bin", random(mib<<20))
	dst := filepath.Join(f.tmp, "dst.bin")
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("/in-%d.bin", i)
		t0 := time.Now()
		f.must("cp", src, dst)
		f.must("sync", dst)
		local := time.Since(t0)
		os.Remove(dst)
		t0 = time.Now()
		f.must("nfs-cp", src, f.url(name))
		in := time.Since(t0)
		t0 = time.Now()
		f.must("nfs-cp", f.url(name), dst)
		out := time.Since(t0)
		os.Remove(dst)
		rate := func(d time.Duration) float64 { return float64(mib) / d.Seconds() }
		b.ReportMetric(rate(in), "in-MiB/s")
		b.ReportMetric(rate(out), "out-MiB/s")
		b.ReportMetric(rate(local), "local-cp-MiB/s")
		b.ReportMetric(local.Seconds()/in.Seconds(), "in/local")
	}
}
