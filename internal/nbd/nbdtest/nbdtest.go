// Package nbdtest serves a thin pool's volumes over NBD on a loopback
// port, so tests and benchmarks can reach them with real NBD clients
// (qemu-img, qemu-io, nbdcopy), and runs those clients.
package nbdtest

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/nbd"
)

// Resolver exports every volume and snapshot of a pool under its id.
type Resolver struct{ Pool *blockstore.Pool }

// Resolve implements nbd.Resolver.
func (r Resolver) Resolve(ctx context.Context, name string) (nbd.Export, error) {
	v, err := r.Pool.Volume(ctx, name)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// List implements nbd.Resolver.
func (r Resolver) List(ctx context.Context) ([]string, error) { return r.Pool.List(ctx) }

// Serve runs an NBD server for res on 127.0.0.1:0. It returns the base
// URI ("nbd://host:port/") and a stop function that shuts the server down
// and waits for it.
func Serve(res nbd.Resolver) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- nbd.NewServer(res, nbd.Options{}).Serve(ctx, ln) }()
	return "nbd://" + ln.Addr().String() + "/", func() { cancel(); <-done }, nil
}

// ServePool serves pool until the test ends and returns a function giving
// a volume's nbd:// URI.
func ServePool(t testing.TB, pool *blockstore.Pool) func(name string) string {
	t.Helper()
	base, stop, err := Serve(Resolver{pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return func(name string) string { return base + name }
}

// Run executes a tool and returns its combined output, failing the test
// if it fails or is not installed (scripts/install-test-deps.sh installs
// them all).
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (scripts/install-test-deps.sh): %v", name, err)
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
