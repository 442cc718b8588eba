package diskimage_test

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/diskimage"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/nbd/nbdtest"
)

var run = nbdtest.Run

// env is a real thin pool served over NBD on 127.0.0.1:0.
type env struct {
	pool *blockstore.Pool
	uri  func(name string) string
	dir  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pool, err := blockstore.Open(context.Background(), t.TempDir(), blockstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return &env{pool: pool, uri: nbdtest.ServePool(t, pool), dir: t.TempDir()}
}

// importFile imports the image at path into a new volume of its virtual
// size and returns what Import reported.
func (e *env) importFile(t *testing.T, path, format, vol string) (diskimage.Info, int64) {
	t.Helper()
	ctx := context.Background()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	info, err := diskimage.Probe(ctx, f, st.Size(), format)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.pool.Create(ctx, vol, (info.VirtualSize+511)&^511); err != nil {
		t.Fatal(err)
	}
	v, err := e.pool.Volume(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	info, n, err := diskimage.Import(ctx, f, st.Size(), format, v)
	if err != nil {
		t.Fatal(err)
	}
	return info, n
}

// qemuWrites are the writes every test image gets: data, an unaligned
// run, a zeroed range and data near the end.
var qemuWrites = []string{
	"-c", "write -P 0x11 0 1M",
	"-c", "write -P 0x22 3000000 70000",
	"-c", "write -P 0x33 8M 2M",
	"-c", "write -z 9M 512k",
	"-c", "write -P 0x44 63M 1M",
}

// TestImportQcow2 builds qcow2 images with qemu-img in the variants a
// tenant may bring (v2 and v3, small and large clusters, compressed, zero
// clusters), imports each into a thin volume, and compares the volume
// through its real NBD export with the image, using qemu-img compare.
// Only the written data is stored: holes stay holes.
func TestImportQcow2(t *testing.T) {
	e := newEnv(t)
	raw := filepath.Join(e.dir, "ref.raw")
	run(t, "qemu-img", "create", "-f", "raw", raw, "64M")
	run(t, "qemu-io", append([]string{"-f", "raw", raw}, qemuWrites...)...)
	for _, tc := range []struct{ name, opts string }{
		{"v3-64k", "compat=1.1"},
		{"v2", "compat=0.10"},
		{"4k-clusters", "cluster_size=4096"},
		{"2m-clusters", "cluster_size=2M"},
		{"compressed", ""},
		{"preallocated", "preallocation=metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(e.dir, tc.name+".qcow2")
			args := []string{"convert", "-f", "raw", "-O", "qcow2"}
			if tc.opts != "" {
				args = append(args, "-o", tc.opts)
			}
			if tc.name == "compressed" {
				args = append(args, "-c")
			}
			run(t, "qemu-img", append(args, raw, img)...)
			if tc.name == "v3-64k" {
				// Zero clusters (v3 only): written through qcow2 itself.
				run(t, "qemu-io", "-f", "qcow2", "-c", "write -z 0 64k", img)
				run(t, "qemu-io", "-f", "raw", "-c", "write -z 0 64k", raw)
				defer run(t, "qemu-io", "-f", "raw", "-c", "write -P 0x11 0 64k", raw)
			}
			info, written := e.importFile(t, img, "", tc.name)
			if info.Format != diskimage.Qcow2 || info.VirtualSize != 64<<20 {
				t.Fatalf("info %+v", info)
			}
			if written > 5<<20 {
				t.Errorf("wrote %d bytes for about 4.6 MiB of data", written)
			}
			run(t, "qemu-img", "compare", "-f", "qcow2", "-F", "raw", img, e.uri(tc.name))
		})
	}
	// The raw image itself, detected as raw; zeros are not written.
	info, written := e.importFile(t, raw, "", "raw")
	if info.Format != diskimage.Raw || written > 5<<20 {
		t.Fatalf("raw import: %+v, %d bytes written", info, written)
	}
	run(t, "qemu-img", "compare", "-f", "raw", "-F", "raw", raw, e.uri("raw"))
}

// TestExport writes a volume with qemu-io over NBD, exports it as qcow2
// and raw, and checks both with qemu-img (check, compare) against the
// export; the raw file is sparse and the qcow2 holds only written
// clusters. The qcow2 export then imports back to the same contents.
func TestExport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const size = 64<<20 + 512 // not a whole number of clusters
	if err := e.pool.Create(ctx, "v", size); err != nil {
		t.Fatal(err)
	}
	run(t, "qemu-io", append(append([]string{"-f", "raw"}, qemuWrites...),
		"-c", "write -P 0x55 67108352 512", e.uri("v"))...)
	v, err := e.pool.Volume(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	q := filepath.Join(e.dir, "out.qcow2")
	f, err := os.Create(q)
	if err != nil {
		t.Fatal(err)
	}
	n, err := diskimage.ExportQcow2(ctx, v, f)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if n > 8<<20 {
		t.Errorf("qcow2 of about 5 MiB of data is %d bytes", n)
	}
	out := run(t, "qemu-img", "check", q)
	if !strings.Contains(out, "No errors were found") {
		t.Fatalf("qemu-img check:\n%s", out)
	}
	run(t, "qemu-img", "compare", "-f", "qcow2", "-F", "raw", q, e.uri("v"))

	r := filepath.Join(e.dir, "out.raw")
	f, err = os.Create(r)
	if err != nil {
		t.Fatal(err)
	}
	read, err := diskimage.ExportRaw(ctx, v, f)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if read > 8<<20 {
		t.Errorf("raw export read %d bytes of about 5 MiB of data", read)
	}
	run(t, "qemu-img", "compare", "-f", "raw", "-F", "raw", r, e.uri("v"))
	if st, _ := os.Stat(r); st.Size() != size {
		t.Fatalf("raw export is %d bytes", st.Size())
	}
	out = run(t, "du", "-B1", r)
	if used, _ := parseLeadingInt(out); used > 16<<20 {
		t.Errorf("raw export uses %d bytes on disk: not sparse", used)
	}
	e.importFile(t, q, diskimage.Qcow2, "back")
	run(t, "qemu-img", "compare", "-f", "raw", "-F", "raw", e.uri("back"), e.uri("v"))
}

func parseLeadingInt(s string) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int64(s[i]-'0')
	}
	return n, i > 0
}

// TestHostileQcow2 feeds headers a tenant could forge: each is refused as
// invalid before anything is read or allocated by what it claims.
func TestHostileQcow2(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	good := filepath.Join(e.dir, "good.qcow2")
	run(t, "qemu-img", "create", "-f", "qcow2", good, "64M")
	base, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	for _, tc := range []struct {
		name  string
		patch func(b []byte) []byte
	}{
		{"backing file", func(b []byte) []byte { be.PutUint64(b[8:], 512); be.PutUint32(b[16:], 4); return b }},
		{"encrypted", func(b []byte) []byte { be.PutUint32(b[32:], 1); return b }},
		{"cluster bits", func(b []byte) []byte { be.PutUint32(b[20:], 40); return b }},
		{"huge size", func(b []byte) []byte { be.PutUint64(b[24:], 1<<62); return b }},
		{"short L1", func(b []byte) []byte { be.PutUint64(b[24:], 1<<40); return b }},
		{"L1 outside", func(b []byte) []byte { be.PutUint64(b[40:], 1<<40); return b }},
		{"external data", func(b []byte) []byte { be.PutUint64(b[72:], 4); return b }},
		{"version", func(b []byte) []byte { be.PutUint32(b[4:], 9); return b }},
		{"truncated", func(b []byte) []byte { return b[:40] }},
		{"L2 outside", func(b []byte) []byte {
			l1 := be.Uint64(b[40:])
			be.PutUint64(b[l1:], 1<<40|1<<63)
			return b
		}},
	} {
		b := tc.patch(append([]byte(nil), base...))
		p := filepath.Join(e.dir, "bad.qcow2")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		f, _ := os.Open(p)
		_, _, err := diskimage.Import(ctx, f, int64(len(b)), diskimage.Qcow2, discard{})
		f.Close()
		if !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: %v, want an invalid-image error", tc.name, err)
		}
	}
	// A raw image is never probed as anything but raw when the caller says so.
	if info, err := diskimage.Probe(ctx, bytesAt(base), int64(len(base)), diskimage.Raw); err != nil || info.Format != diskimage.Raw {
		t.Errorf("explicit raw: %+v %v", info, err)
	}
	if _, err := diskimage.Probe(ctx, bytesAt(make([]byte, 100)), 100, diskimage.Qcow2); !errs.Is(err, errs.Invalid) {
		t.Errorf("zeros as qcow2: %v", err)
	}
}

type discard struct{}

func (discard) WriteAt(context.Context, []byte, int64) error { return nil }
func (discard) Flush(context.Context) error                  { return nil }

type bytesAt []byte

func (b bytesAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	return copy(p, b[off:]), nil
}
