package blockstore

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stowage/stowage/internal/errs"
)

func openPool(t *testing.T, dir string, opts Options) *Pool {
	t.Helper()
	p, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkFsck fails the test unless the pool's refcounts match its maps.
func checkFsck(t *testing.T, p *Pool) FsckReport {
	t.Helper()
	r, err := p.Fsck(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Clean() {
		t.Fatalf("fsck found %d problems:\n%s", len(r.Problems), fmt.Sprint(r.Problems))
	}
	return r
}

// modelRun drives the pool with random operations and checks every read
// against an in-memory copy of every volume.
type modelRun struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	opts  Options
	p     *Pool
	rng   *rand.Rand
	ref   map[string][]byte // volume id -> expected contents
	ro    map[string]bool
	next  int
	chunk int64

	cached int // reads TryReadAt answered
}

func (m *modelRun) names() []string {
	out := make([]string, 0, len(m.ref))
	for n := range m.ref {
		out = append(out, n)
	}
	slices.Sort(out) // map order is random; the run must be reproducible
	return out
}

func (m *modelRun) pick(writable bool) string {
	var c []string
	for _, n := range m.names() {
		if !writable || !m.ro[n] {
			c = append(c, n)
		}
	}
	if len(c) == 0 {
		return ""
	}
	return c[m.rng.IntN(len(c))]
}

func (m *modelRun) vol(id string) *Volume {
	v, err := m.p.Volume(m.ctx, id)
	if err != nil {
		m.t.Fatal(err)
	}
	return v
}

// span picks a range biased towards chunk boundaries, where the
// interesting cases are.
func (m *modelRun) span(size int64) (off, n int64) {
	switch m.rng.IntN(3) {
	case 0: // chunk aligned, whole chunks
		nc := size / m.chunk
		c := m.rng.Int64N(nc)
		k := 1 + m.rng.Int64N(min(3, nc-c))
		return c * m.chunk, k * m.chunk
	case 1: // straddles a boundary
		c := 1 + m.rng.Int64N(size/m.chunk-1)
		return c*m.chunk - 1 - m.rng.Int64N(4096), 2 + m.rng.Int64N(8192)
	default:
		off = m.rng.Int64N(size)
		return off, 1 + m.rng.Int64N(min(size-off, 3*m.chunk))
	}
}

func clampSpan(off, n, size int64) (int64, int64) {
	if off+n > size {
		n = size - off
	}
	return off, n
}

func (m *modelRun) verify(id string) {
	want := m.ref[id]
	got := make([]byte, len(want))
	if err := m.vol(id).ReadAt(m.ctx, got, 0); err != nil {
		m.t.Fatal(err)
	}
	if i := firstDiff(got, want); i >= 0 {
		m.t.Fatalf("volume %s differs from the model at byte %d (chunk %d): got %d want %d", id, i, int64(i)/m.chunk, got[i], want[i])
	}
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) { // fast, and not instrumented by the race detector
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

func (m *modelRun) step(i int) {
	ctx, r := m.ctx, m.rng
	op := r.IntN(100)
	if op >= 71 && op < 83 && len(m.ref) > 12 {
		op = 85 // keep the volume count bounded: delete instead of branching
	}
	switch {
	case op < 35 || len(m.ref) == 0: // write
		id := m.pick(true)
		if id == "" {
			m.create()
			return
		}
		size := int64(len(m.ref[id]))
		off, n := m.span(size)
		off, n = clampSpan(off, n, size)
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(i) ^ byte(j*7)
		}
		b[0] = byte(i) | 1
		if err := m.vol(id).WriteAt(ctx, b, off); err != nil {
			m.t.Fatal(err)
		}
		copy(m.ref[id][off:], b)
	case op < 55: // read
		id := m.pick(false)
		size := int64(len(m.ref[id]))
		off, n := m.span(size)
		off, n = clampSpan(off, n, size)
		got := make([]byte, n)
		if err := m.vol(id).ReadAt(ctx, got, off); err != nil {
			m.t.Fatal(err)
		}
		if d := firstDiff(got, m.ref[id][off:off+n]); d >= 0 {
			m.t.Fatalf("op %d: read %s at %d+%d differs at +%d", i, id, off, n, d)
		}
		// The NBD request loop's cached read must agree where it answers,
		// also over chunks freed and reused by other volumes.
		for j, c := range m.ref[id][off : off+n] {
			got[j] = ^c // so that a read that fills nothing fails
		}
		if m.vol(id).TryReadAt(got, off) {
			m.cached++
			if d := firstDiff(got, m.ref[id][off:off+n]); d >= 0 {
				m.t.Fatalf("op %d: cached read %s at %d+%d differs at +%d", i, id, off, n, d)
			}
		}
	case op < 63: // trim: whole chunks become zero, partial ones may
		id := m.pick(true)
		if id == "" {
			return
		}
		size := int64(len(m.ref[id]))
		off, n := m.span(size)
		off, n = clampSpan(off, n, size)
		if err := m.vol(id).Trim(ctx, off, n); err != nil {
			m.t.Fatal(err)
		}
		got := make([]byte, n)
		if err := m.vol(id).ReadAt(ctx, got, off); err != nil {
			m.t.Fatal(err)
		}
		old := m.ref[id][off : off+n]
		for j := range got {
			abs := off + int64(j)
			whole := abs/m.chunk*m.chunk >= off && (abs/m.chunk+1)*m.chunk <= off+n
			if got[j] != 0 && (whole || got[j] != old[j]) {
				m.t.Fatalf("op %d: after trim %s at %d+%d byte +%d is %d (old %d)", i, id, off, n, j, got[j], old[j])
			}
		}
		copy(old, got)
	case op < 71: // write zeroes
		id := m.pick(true)
		if id == "" {
			return
		}
		size := int64(len(m.ref[id]))
		off, n := m.span(size)
		off, n = clampSpan(off, n, size)
		if err := m.vol(id).Zero(ctx, off, n, r.IntN(2) == 0); err != nil {
			m.t.Fatal(err)
		}
		clear(m.ref[id][off : off+n])
	case op < 77: // snapshot
		src := m.pick(false)
		id := m.newID("s")
		if err := m.p.Snapshot(ctx, src, id); err != nil {
			m.t.Fatal(err)
		}
		m.ref[id] = bytes.Clone(m.ref[src])
		m.ro[id] = true
	case op < 83: // clone
		src := m.pick(false)
		id := m.newID("c")
		if err := m.p.Clone(ctx, src, id); err != nil {
			m.t.Fatal(err)
		}
		m.ref[id] = bytes.Clone(m.ref[src])
	case op < 88: // delete
		if len(m.ref) < 3 {
			return
		}
		id := m.pick(false)
		if err := m.p.Delete(ctx, id); err != nil {
			m.t.Fatal(err)
		}
		delete(m.ref, id)
		delete(m.ro, id)
		if _, err := m.p.Volume(ctx, id); !errs.Is(err, errs.NotExist) {
			m.t.Fatalf("volume %s after delete: %v", id, err)
		}
	case op < 90: // grow
		id := m.pick(true)
		if id == "" {
			return
		}
		size := int64(len(m.ref[id])) + m.chunk/2*int64(1+r.IntN(4))
		if err := m.p.Grow(ctx, id, size); err != nil {
			m.t.Fatal(err)
		}
		m.ref[id] = append(m.ref[id], make([]byte, size-int64(len(m.ref[id])))...)
	case op < 95:
		if err := m.p.Flush(ctx); err != nil {
			m.t.Fatal(err)
		}
	case op < 97: // reopen: everything must persist across Close/Open
		if err := m.p.Close(); err != nil {
			m.t.Fatal(err)
		}
		m.p = openPool(m.t, m.dir, m.opts)
		for _, id := range m.names() {
			m.verify(id)
		}
	case op < 98:
		m.create()
	default:
		checkFsck(m.t, m.p)
	}
}

func (m *modelRun) newID(prefix string) string {
	m.next++
	return fmt.Sprintf("%s%d", prefix, m.next)
}

func (m *modelRun) create() {
	id := m.newID("v")
	size := m.chunk * int64(8+m.rng.IntN(40))
	if m.rng.IntN(5) == 0 { // spans two leaf pages: 512 chunks per leaf
		size = m.chunk * int64(500+m.rng.IntN(100))
	}
	if err := m.p.Create(m.ctx, id, size); err != nil {
		m.t.Fatal(err)
	}
	m.ref[id] = make([]byte, size)
}

// TestModel checks thousands of random operations per seed against an
// in-memory reference, across snapshots, clones, trims, zeroes, deletes,
// grows and reopens. Small chunks and a small checkpoint threshold make
// copy-on-write, page sharing and checkpoints frequent.
func TestModel(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			// Seeds share nothing, and a run mostly waits for fsync.
			t.Parallel()
			dir := t.TempDir()
			opts := Options{ChunkSize: 16 << 10, CheckpointBytes: 256 << 10}
			m := &modelRun{t: t, ctx: context.Background(), dir: dir, opts: opts, rng: rand.New(rand.NewPCG(seed, 99)),
				ref: map[string][]byte{}, ro: map[string]bool{}, chunk: opts.ChunkSize}
			m.p = openPool(t, dir, opts)
			defer func() { m.p.Close() }()
			m.create()
			for i := 1; i <= 3000; i++ {
				m.step(i)
			}
			for _, id := range m.names() {
				m.verify(id)
			}
			if m.cached == 0 {
				t.Error("TryReadAt never answered a read")
			}
			checkFsck(t, m.p)
			// Delete everything: every chunk and page must come back.
			for _, id := range m.names() {
				if err := m.p.Delete(m.ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			checkFsck(t, m.p)
			st, err := m.p.PoolStat(m.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Chunks != 0 || st.Pages != 0 || st.FreeIDs != st.HighWater-1 {
				t.Fatalf("after deleting every volume: %+v", st)
			}
		})
	}
}
