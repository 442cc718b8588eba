package nbd_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"go.uber.org/goleak"

	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/nbd"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A *blockstore.Volume is an export as it is.
var _ nbd.Export = (*blockstore.Volume)(nil)

// poolResolver exports every volume and snapshot of a pool by its id.
type poolResolver struct{ p *blockstore.Pool }

func (r poolResolver) Resolve(ctx context.Context, name string) (nbd.Export, error) {
	v, err := r.p.Volume(ctx, name)
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (r poolResolver) List(ctx context.Context) ([]string, error) { return r.p.List(ctx) }

// testPool is what the shared test bodies need of a backend: the local
// pool here, an RBD pool in the Ceph suite (ceph_test.go).
type testPool interface {
	Create(ctx context.Context, id string, size int64) error
	Snapshot(ctx context.Context, srcID, newID string) error
}

type testServer struct {
	pool testPool
	addr string
	// alloc is the unit in which the export allocates and reports
	// allocation: the pool's chunk, or RBD's object.
	alloc int64
}

// startServer runs the NBD server in-process on 127.0.0.1:0 over a real
// pool in a temporary directory, with the given options if any; cleanup
// stops it and checks that Serve returned.
func startServer(t *testing.T, opts ...nbd.Options) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pool, err := blockstore.Open(ctx, t.TempDir(), blockstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r, err := pool.Fsck(context.Background())
		if err != nil || !r.Clean() {
			t.Errorf("fsck: %v %v", err, r.Problems)
		}
		if err := pool.Close(); err != nil {
			t.Error(err)
		}
	})
	var o nbd.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	// After the cleanup above, so that the server stops before it runs.
	addr := serve(t, ctx, cancel, poolResolver{pool}, o)
	return &testServer{pool: pool, addr: addr, alloc: 64 << 10}
}

// serve runs the NBD server over r on 127.0.0.1:0 until the test ends,
// when it cancels ctx and checks that Serve returned; cleanups registered
// after it run before it.
func serve(t *testing.T, ctx context.Context, cancel context.CancelFunc, r nbd.Resolver, o nbd.Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := nbd.NewServer(r, o)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func (s *testServer) uri(name string) string { return "nbd://" + s.addr + "/" + name }
