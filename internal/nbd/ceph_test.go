//go:build ceph

package nbd_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"testing"

	"github.com/stowage/stowage/internal/nbd"
	"github.com/stowage/stowage/internal/rbd"
	"github.com/stowage/stowage/internal/testenv"
)

// The same bodies as the local pool's tests, on RBD images of the test
// cluster (scripts/test-ceph.sh) opened through librbd.

func TestCephRequestErrors(t *testing.T)      { testRequestErrors(t, startRBDServer(t)) }
func TestCephConcurrentRequests(t *testing.T) { testConcurrentRequests(t, startRBDServer(t)) }
func TestCephNbdinfo(t *testing.T)            { testNbdinfo(t, startRBDServer(t)) }
func TestCephQemuIO(t *testing.T)             { testQemuIO(t, startRBDServer(t)) }
func TestCephNbdcopy(t *testing.T)            { testNbdcopy(t, startRBDServer(t)) }
func TestCephConvertSnapshot(t *testing.T)    { testConvertSnapshot(t, startRBDServer(t)) }
func TestCephQemuImgMap(t *testing.T)         { testQemuImgMap(t, startRBDServer(t)) }
func TestCephNbdinfoMap(t *testing.T)         { testNbdinfoMap(t, startRBDServer(t)) }
func TestCephStalledReader(t *testing.T)      { testStalledReader(t, startRBDServer(t)) }

// The request loop starts RBD reads and writes and replies from their
// completions, with no goroutine per request.
var _ nbd.AsyncExport = (*rbd.Volume)(nil)

// rbdPool gives the tests' names a prefix of their own in the shared
// pool, exports what they made under their own names, and removes it all
// when the test ends.
type rbdPool struct {
	st     *rbd.Store
	prefix string
	mu     sync.Mutex
	names  []string // in creation order
}

func (p *rbdPool) add(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.names = append(p.names, name)
}

func (p *rbdPool) Create(ctx context.Context, id string, size int64) error {
	if err := p.st.Create(ctx, p.prefix+id, size); err != nil {
		return err
	}
	p.add(id)
	return nil
}

func (p *rbdPool) Snapshot(ctx context.Context, srcID, newID string) error {
	if err := p.st.Snapshot(ctx, p.prefix+srcID, p.prefix+newID); err != nil {
		return err
	}
	p.add(newID)
	return nil
}

func (p *rbdPool) Resolve(ctx context.Context, name string) (nbd.Export, error) {
	v, err := p.st.Volume(ctx, p.prefix+name)
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (p *rbdPool) List(context.Context) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.names), nil
}

func startRBDServer(t *testing.T) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := rbd.Open(ctx, rbd.Options{Conf: testenv.CephConf(t), User: "client.stowage", Pool: "stowage-volumes"})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	pool := &rbdPool{st: st, prefix: "nbdtest-" + hex.EncodeToString(b) + "-"}
	t.Cleanup(func() {
		// Snapshots before their volumes, as the volume service orders it.
		names, _ := pool.List(ctx)
		for _, n := range slices.Backward(names) {
			if err := st.Delete(context.Background(), pool.prefix+n); err != nil {
				t.Errorf("delete %s: %v", n, err)
			}
		}
		st.Close()
	})
	// After the cleanup above, so that the server stops before it runs.
	addr := serve(t, ctx, cancel, pool, nbd.Options{})
	// RBD's default 4 MiB objects, which the object map tracks.
	return &testServer{pool: pool, addr: addr, alloc: 4 << 20}
}
