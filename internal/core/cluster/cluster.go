// Package cluster owns the node registry: every `stowage serve` process
// sharing one database records itself (name, the addresses clients are
// told, version, start), keeps a heartbeat while it runs and removes itself
// on a clean shutdown, so that staff see which nodes serve and which died.
// It knows neither HTTP nor SQL: the store keeps the rows.
//
// On Ceph a node also fences the dead: a node whose heartbeat stopped (or a
// node's previous run, when it starts again under the same name) may still
// hold RBD exclusive locks through its librados client until Ceph's watch
// timeout (~30 s). Blocklisting that client's address drops its watches, so
// another node takes the locks at once; a node that finds itself fenced
// stops rather than keep writing.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/errs"
)

// Heartbeat is how often a node refreshes its row; a node whose row is
// older than DownAfter is reported down.
const (
	Heartbeat = 2 * time.Second
	DownAfter = 3 * Heartbeat
)

// Node is one serving process.
type Node struct {
	ID      string
	Name    string
	API     string // host:port clients reach the management API at
	S3      string
	NBD     string
	NFS     string
	Version string
	Started time.Time
	// Heartbeat is when the node last said it was alive.
	Heartbeat time.Time
	// CephAddr is the addresses of the node's Ceph clients, separated by
	// spaces (its RBD client's and, with CephFS, each mount's), which
	// fencing blocklists ("" without Ceph: nothing to fence).
	CephAddr string
	// Fenced is when another node fenced this one (zero while it was not).
	Fenced time.Time
}

// ErrFenced is what the heartbeat returns to a node that another node
// fenced (or, on Ceph, replaced by starting under its name): the node's
// Ceph client is blocklisted and it must stop serving.
var ErrFenced = errors.New("this node was fenced by another node (its heartbeat stopped for longer than the down threshold, or a node of the same name started): its Ceph client is blocklisted; stopping so that a fresh start gets a new one")

// Fencer cuts a dead node's Ceph client off the cluster.
type Fencer interface {
	// Blocklist adds addr to the OSD blocklist for expire.
	Blocklist(ctx context.Context, addr string, expire time.Duration) error
	// Fenced tells whether the cluster says this node's own client is
	// blocklisted.
	Fenced(ctx context.Context) bool
}

// blocklistFor is how long a fenced client stays blocklisted: far longer
// than any stalled process could resume in (a fenced node exits, and its
// next run is a new client).
const blocklistFor = time.Hour

// Status is a node with the health its heartbeat shows.
type Status struct {
	Node
	Healthy bool
	// Self marks the node that answered the request.
	Self bool
}

// Store keeps the registry.
type Store interface {
	// AddNode removes rows of earlier runs named n.Name (a node that
	// restarts replaces itself) and inserts n; it returns how many rows
	// it removed whose heartbeat was younger than fresh (a sign that two
	// live processes share a name).
	AddNode(ctx context.Context, n Node, fresh time.Time) (replacedLive int, err error)
	// BeatNode refreshes n's heartbeat and CephAddr, re-inserting the row if it is
	// missing (another process of the same name replaced it) and n has no
	// Ceph client. It returns ErrFenced when the row is fenced, or missing
	// while n has a Ceph client (a node of its name fenced and replaced it).
	BeatNode(ctx context.Context, n Node) error
	RemoveNode(ctx context.Context, id string) error
	ListNodes(ctx context.Context) ([]Node, error)
	// FenceNode marks the node with id fenced at t.
	FenceNode(ctx context.Context, id string, t time.Time) error
}

// Registry is one node's membership: its own row and the list of all.
type Registry struct {
	store Store
	self  Node
	log   *slog.Logger
	now   func() time.Time
	// fence blocklists dead nodes' Ceph clients; nil without Ceph.
	fence Fencer
	// clients is this node's Ceph client addresses as they are now (as
	// Node.CephAddr), which each heartbeat records: CephFS mounts come
	// and go. nil: self.CephAddr stays as given.
	clients func() (string, error)
	// mu orders listing the clients and writing them, so that an older
	// list never overwrites a newer one; it guards self.CephAddr.
	mu sync.Mutex
	// seen is each other node's heartbeat as this node last saw it
	// change, by this node's clock (used by Run's goroutine only).
	seen map[string]sighting
}

// sighting is a heartbeat value and when, by the watching node's clock, it
// was first seen: a node is fenced when its heartbeat has not moved for
// DownAfter of the watcher's own time, so clocks that disagree between
// nodes fence nobody alive.
type sighting struct{ beat, since time.Time }

// NewRegistry returns the registry of self (its ID and Name set). With a
// fencer (self.CephAddr set), the node fences dead nodes and stops when
// fenced itself. clients, if not nil, gives the node's Ceph client
// addresses afresh for each heartbeat.
func NewRegistry(st Store, self Node, fence Fencer, clients func() (string, error), log *slog.Logger) *Registry {
	return &Registry{store: st, self: self, log: log, now: time.Now, fence: fence, clients: clients, seen: map[string]sighting{}}
}

// Self is this node as recorded.
func (r *Registry) Self() Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.self
}

// Join records this node.
func (r *Registry) Join(ctx context.Context) error {
	if err := r.fencePrevious(ctx); err != nil {
		return err
	}
	now := r.now().UTC()
	r.self.Started, r.self.Heartbeat = now, now
	live, err := r.store.AddNode(ctx, r.self, now.Add(-DownAfter))
	if err != nil {
		return fmt.Errorf("register node %s: %w", r.self.Name, err)
	}
	if live > 0 {
		r.log.Warn("another node with this name was alive moments ago; give each node its own --node-name", "name", r.self.Name)
	}
	return nil
}

// Run keeps the heartbeat (and, on Ceph, fences nodes whose heartbeat
// stopped) until ctx ends, then removes the node's row: a clean shutdown
// leaves no node to be reported down. It returns ErrFenced at once when
// this node was fenced.
func (r *Registry) Run(ctx context.Context) error {
	t := time.NewTicker(Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := r.store.RemoveNode(rctx, r.self.ID); err != nil {
				r.log.Warn("remove node from the registry", "err", err)
			}
			return nil
		case <-t.C:
			err := r.beat(ctx)
			if errors.Is(err, ErrFenced) || r.selfFenced(ctx) {
				return ErrFenced
			}
			if err != nil && ctx.Err() == nil {
				r.log.Warn("node heartbeat", "err", err)
			}
			r.fenceDead(ctx)
		}
	}
}

// RecordClients writes this node's Ceph clients as they are now (with a
// heartbeat), for a new client to be known to fencing before it is used.
func (r *Registry) RecordClients(ctx context.Context) error { return r.beat(ctx) }

// beat refreshes the heartbeat and the list of Ceph clients. When the
// clients cannot be listed the last list recorded is written back, and
// the error returned.
func (r *Registry) beat(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var listErr error
	if r.clients != nil {
		a, err := r.clients()
		if err == nil {
			r.self.CephAddr = a
		} else {
			listErr = fmt.Errorf("list this node's Ceph clients: %w", err)
		}
	}
	n := r.self
	n.Heartbeat = r.now().UTC()
	if err := r.store.BeatNode(ctx, n); err != nil {
		return err
	}
	return listErr
}

// selfFenced asks Ceph whether this node's client is blocklisted, giving
// up (not fenced, as far as it knows) after a heartbeat's time.
func (r *Registry) selfFenced(ctx context.Context) bool {
	if r.fence == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, Heartbeat)
	defer cancel()
	return r.fence.Fenced(ctx)
}

// fencePrevious blocklists the Ceph clients of earlier runs of this node's
// name before it replaces their rows: a run killed moments ago looks alive
// to the heartbeat but still holds its images' exclusive locks.
func (r *Registry) fencePrevious(ctx context.Context) error {
	if r.fence == nil {
		return nil
	}
	ns, err := r.store.ListNodes(ctx)
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	for _, n := range ns {
		if n.Name == r.self.Name && n.ID != r.self.ID && n.CephAddr != "" && n.Fenced.IsZero() {
			if err := r.blocklist(ctx, n.CephAddr); err != nil {
				return fmt.Errorf("fence the previous run of node %s: %w", n.Name, err)
			}
			r.log.Info("fenced the previous run of this node", "node_id", n.ID, "ceph_addr", n.CephAddr)
		}
	}
	return nil
}

// blocklist blocklists every one of a node's Ceph clients (addrs as in
// Node.CephAddr).
func (r *Registry) blocklist(ctx context.Context, addrs string) error {
	for _, a := range strings.Fields(addrs) {
		if err := r.fence.Blocklist(ctx, a, blocklistFor); err != nil {
			return err
		}
	}
	return nil
}

// fenceDead blocklists the Ceph client of every node whose heartbeat has
// not moved for DownAfter, then marks it fenced. Several nodes may fence
// the same one; blocklisting twice is harmless.
func (r *Registry) fenceDead(ctx context.Context) {
	if r.fence == nil {
		return
	}
	ns, err := r.store.ListNodes(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("list nodes to fence", "err", err)
		}
		return
	}
	now := r.now().UTC()
	listed := make(map[string]bool, len(ns))
	for _, n := range ns {
		listed[n.ID] = true
		if n.ID == r.self.ID || n.CephAddr == "" || !n.Fenced.IsZero() {
			continue
		}
		if s, ok := r.seen[n.ID]; !ok || !s.beat.Equal(n.Heartbeat) {
			r.seen[n.ID] = sighting{beat: n.Heartbeat, since: now}
			continue
		}
		if now.Sub(r.seen[n.ID].since) < DownAfter {
			continue
		}
		if err := r.blocklist(ctx, n.CephAddr); err != nil {
			r.log.Warn("fence a dead node", "node", n.Name, "node_id", n.ID, "ceph_addr", n.CephAddr, "err", err)
			continue
		}
		if err := r.store.FenceNode(ctx, n.ID, now); err != nil {
			r.log.Warn("mark a node fenced", "node", n.Name, "node_id", n.ID, "err", err)
			continue
		}
		r.log.Info("fenced a dead node", "node", n.Name, "node_id", n.ID, "ceph_addr", n.CephAddr,
			"silent_for", now.Sub(r.seen[n.ID].since).Round(time.Millisecond))
	}
	for id := range r.seen {
		if !listed[id] {
			delete(r.seen, id)
		}
	}
}

// List shows every registered node with its health, to staff with an
// unbound credential.
func (r *Registry) List(ctx context.Context, p identity.Principal) ([]Status, error) {
	if !p.User.Staff || p.BoundProject != "" {
		return nil, errs.E(errs.Permission, "only staff may list the nodes")
	}
	ns, err := r.store.ListNodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	cut := r.now().Add(-DownAfter)
	out := make([]Status, len(ns))
	for i, n := range ns {
		out[i] = Status{Node: n, Healthy: n.Heartbeat.After(cut), Self: n.ID == r.self.ID}
	}
	return out, nil
}
