package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/core/cluster"
	"github.com/stowage/stowage/internal/store/sqlstore"
)

// TestBeatNodeRecordsCephClients: a heartbeat records the node's Ceph
// clients as they are now (CephFS mounts open after the node joined), so
// that fencing blocklists them all, on either engine.
func TestBeatNodeRecordsCephClients(t *testing.T) {
	ctx := context.Background()
	for engine, dsn := range engines(t) {
		st, err := sqlstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		n := cluster.Node{ID: "node-1", Name: "a", CephAddr: "10.0.0.1:0/1", Started: now, Heartbeat: now}
		if _, err := st.AddNode(ctx, n, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		n.Heartbeat, n.CephAddr = now.Add(time.Second), "10.0.0.1:0/1 10.0.0.1:0/2"
		if err := st.BeatNode(ctx, n); err != nil {
			t.Fatalf("%s: %v", engine, err)
		}
		ns, err := st.ListNodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ns) != 1 || ns[0].CephAddr != n.CephAddr {
			t.Errorf("%s: nodes after the heartbeat: %+v, want ceph_addr %q", engine, ns, n.CephAddr)
		}
		st.Close()
	}
}
