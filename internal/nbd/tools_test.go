package nbd_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The tests in this file drive the server with real clients from Debian
// packages: libnbd-bin (nbdinfo, nbdcopy), qemu-utils (qemu-io, qemu-img),
// nbdfuse, fuse3 and e2fsprogs. A missing tool fails the test: `make test`
// installs them all.

func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (apt-get install qemu-utils libnbd-bin nbdkit nbdfuse fio fuse3 e2fsprogs): %v", name, err)
	}
	return path
}

// run executes a tool and returns its combined output, failing the test if
// it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(lookTool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func randomFile(t *testing.T, path string, size int, seed uint64) []byte {
	t.Helper()
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		copy(b[i:], []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24), byte(v >> 32), byte(v >> 40), byte(v >> 48), byte(v >> 56)})
	}
	// Leave a zero run so sparse handling is exercised too.
	clear(b[size/4 : size/2])
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNbdinfo(t *testing.T) { testNbdinfo(t, startServer(t)) }

func testNbdinfo(t *testing.T, s *testServer) {
	ctx := context.Background()
	if err := s.pool.Create(ctx, "vol1", 64<<20); err != nil {
		t.Fatal(err)
	}
	if err := s.pool.Snapshot(ctx, "vol1", "snap1"); err != nil {
		t.Fatal(err)
	}
	out := run(t, "nbdinfo", s.uri("vol1"))
	for _, want := range []string{
		"newstyle-fixed", "export-size: 67108864", "is_read_only: false",
		"can_flush: true", "can_fua: true", "can_trim: true", "can_zero: true",
		"can_fast_zero: true", "can_multi_conn: true",
		"block_size_minimum: 1", "block_size_preferred: 4096", "block_size_maximum: 33554432",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("nbdinfo vol1: missing %q in\n%s", want, out)
		}
	}
	out = run(t, "nbdinfo", s.uri("snap1"))
	for _, want := range []string{"is_read_only: true", "can_flush: true", "can_trim: false", "can_zero: false"} {
		if !strings.Contains(out, want) {
			t.Errorf("nbdinfo snap1: missing %q in\n%s", want, out)
		}
	}
	out = run(t, "nbdinfo", "--list", "nbd://"+s.addr)
	if !strings.Contains(out, `export="vol1"`) || !strings.Contains(out, `export="snap1"`) {
		t.Errorf("nbdinfo --list:\n%s", out)
	}
	// An unknown export is refused cleanly.
	if out, err := exec.Command(lookTool(t, "nbdinfo"), s.uri("nope")).CombinedOutput(); err == nil {
		t.Errorf("nbdinfo of a missing export succeeded:\n%s", out)
	}
}

// TestQemuIO writes patterns with qemu-io, verifies them on read, and
// compares the export with a local file that got the same writes.
func TestQemuIO(t *testing.T) { testQemuIO(t, startServer(t)) }

func testQemuIO(t *testing.T, s *testServer) {
	ctx := context.Background()
	const size = 16 << 20
	if err := s.pool.Create(ctx, "q", size); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(t.TempDir(), "ref.img")
	if err := os.WriteFile(ref, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(ref, size); err != nil {
		t.Fatal(err)
	}
	cmds := []string{
		"write -P 0x5a 0 1M",
		"write -P 0x33 1000000 70000", // unaligned, straddles chunks
		"write -P 0x77 -f 8M 128k",    // FUA
		"write -z 8200k 64k",          // write zeroes
		"write -z -u 12M 256k",        // write zeroes, may unmap
		"discard 4M 128k",
		"write -P 0x11 15M 1M",
		"aio_write -P 0x21 2M 64k",
		"aio_write -P 0x22 3M 64k",
		"aio_flush",
		"flush",
	}
	var args []string
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	run(t, "qemu-io", append([]string{"-f", "raw", ref}, args...)...)
	run(t, "qemu-io", append([]string{"-f", "raw", s.uri("q")}, args...)...)
	out := run(t, "qemu-io", "-f", "raw", "-c", "read -P 0x5a 0 1000000", "-c", "read -P 0x33 1000000 70000",
		"-c", "read -P 0x77 8M 8k", "-c", "read -P 0 8200k 64k", "-c", "read -P 0x11 15M 1M",
		"-c", "read -P 0x21 2M 64k", "-c", "read -P 0x22 3M 64k", s.uri("q"))
	if strings.Contains(out, "Pattern verification failed") || strings.Count(out, "read ") != 7 {
		t.Fatalf("qemu-io read:\n%s", out)
	}
	run(t, "qemu-img", "compare", "-f", "raw", "-F", "raw", ref, s.uri("q"))
}

// TestNbdcopy copies a file in and out with nbdcopy, which uses several
// connections and many requests in flight.
func TestNbdcopy(t *testing.T) { testNbdcopy(t, startServer(t)) }

func testNbdcopy(t *testing.T, s *testServer) {
	ctx := context.Background()
	const size = 48 << 20
	if err := s.pool.Create(ctx, "c", size); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	want := randomFile(t, src, size, 1)
	run(t, "nbdcopy", "--flush", src, s.uri("c"))
	dst := filepath.Join(dir, "dst")
	run(t, "nbdcopy", s.uri("c"), dst)
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("nbdcopy round trip differs")
	}
}

// TestConvertSnapshot exports a snapshot read-only and converts it with
// qemu-img while the source volume keeps changing.
func TestConvertSnapshot(t *testing.T) { testConvertSnapshot(t, startServer(t)) }

func testConvertSnapshot(t *testing.T, s *testServer) {
	ctx := context.Background()
	const size = 32 << 20
	if err := s.pool.Create(ctx, "v", size); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	want := randomFile(t, src, size, 2)
	run(t, "nbdcopy", src, s.uri("v"))
	if err := s.pool.Snapshot(ctx, "v", "v-1"); err != nil {
		t.Fatal(err)
	}
	// Overwrite the volume after the snapshot; the snapshot must not see it.
	randomFile(t, src, size, 3)
	run(t, "nbdcopy", src, s.uri("v"))
	out := filepath.Join(dir, "snap.raw")
	run(t, "qemu-img", "convert", "-f", "raw", "-O", "raw", s.uri("v-1"), out)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("converted snapshot differs from the data written before it")
	}
	// The snapshot export is read-only.
	if out, err := exec.Command(lookTool(t, "qemu-io"), "-f", "raw", "-c", "write 0 4k", s.uri("v-1")).CombinedOutput(); err == nil && !strings.Contains(string(out), "failed") {
		t.Fatalf("write to a snapshot export succeeded:\n%s", out)
	}
}
