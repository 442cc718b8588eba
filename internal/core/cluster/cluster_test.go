package cluster

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// memStore keeps the rows in memory.
type memStore struct{ nodes []Node }

func (m *memStore) AddNode(_ context.Context, n Node, _ time.Time) (int, error) {
	m.nodes = append(m.nodes, n)
	return 0, nil
}
func (m *memStore) BeatNode(context.Context, Node) error     { return nil }
func (m *memStore) RemoveNode(context.Context, string) error { return nil }
func (m *memStore) ListNodes(context.Context) ([]Node, error) {
	return slices.Clone(m.nodes), nil
}
func (m *memStore) FenceNode(_ context.Context, id string, t time.Time) error {
	for i := range m.nodes {
		if m.nodes[i].ID == id {
			m.nodes[i].Fenced = t
		}
	}
	return nil
}

type listFencer struct{ blocked []string }

func (f *listFencer) Blocklist(_ context.Context, addr string, _ time.Duration) error {
	f.blocked = append(f.blocked, addr)
	return nil
}
func (f *listFencer) Fenced(context.Context) bool { return false }

// TestFenceDeadByOwnClock: a node is fenced when its heartbeat stops moving
// for DownAfter of the watcher's clock — not when its heartbeat merely
// reads old (its clock lags), and never when it has no Ceph client. Every
// one of its clients (RBD's and each CephFS mount's) is blocklisted.
func TestFenceDeadByOwnClock(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &memStore{nodes: []Node{
		{ID: "lagging", CephAddr: "10.0.0.2:0/1", Heartbeat: clock.Add(-time.Hour)},
		{ID: "dead", CephAddr: "10.0.0.3:0/1 10.0.0.3:0/2 10.0.0.3:0/3", Heartbeat: clock},
		{ID: "no-ceph", Heartbeat: clock},
	}}
	f := &listFencer{}
	r := NewRegistry(st, Node{ID: "me", CephAddr: "10.0.0.1:0/1"}, f, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.now = func() time.Time { return clock }
	for range 5 { // 10 s of heartbeats
		r.fenceDead(context.Background())
		clock = clock.Add(Heartbeat)
		st.nodes[0].Heartbeat = st.nodes[0].Heartbeat.Add(Heartbeat) // lagging beats on
	}
	if !slices.Equal(f.blocked, []string{"10.0.0.3:0/1", "10.0.0.3:0/2", "10.0.0.3:0/3"}) {
		t.Fatalf("blocklisted %v, want only the dead node's clients", f.blocked)
	}
	if st.nodes[1].Fenced.IsZero() || !st.nodes[0].Fenced.IsZero() || !st.nodes[2].Fenced.IsZero() {
		t.Fatalf("fenced marks: %+v", st.nodes)
	}
	r.fenceDead(context.Background())
	if len(f.blocked) != 3 {
		t.Fatalf("a fenced node was blocklisted again: %v", f.blocked)
	}
}
