// Package cluster owns the node registry: every `stowage serve` process
// sharing one database records itself (name, the addresses clients are
// told, version, start), keeps a heartbeat while it runs and removes itself
// on a clean shutdown, so that staff see which nodes serve and which died.
// It knows neither HTTP nor SQL: the store keeps the rows.
package cluster

import (
	"context"
	"fmt"
	"log/slog"
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
}

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
	// BeatNode refreshes n's heartbeat, re-inserting the row if it is
	// missing (another process of the same name replaced it).
	BeatNode(ctx context.Context, n Node) error
	RemoveNode(ctx context.Context, id string) error
	ListNodes(ctx context.Context) ([]Node, error)
}

// Registry is one node's membership: its own row and the list of all.
type Registry struct {
	store Store
	self  Node
	log   *slog.Logger
	now   func() time.Time
}

// NewRegistry returns the registry of self (its ID and Name set).
func NewRegistry(st Store, self Node, log *slog.Logger) *Registry {
	return &Registry{store: st, self: self, log: log, now: time.Now}
}

// Self is this node as recorded.
func (r *Registry) Self() Node { return r.self }

// Join records this node.
func (r *Registry) Join(ctx context.Context) error {
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

// Run keeps the heartbeat until ctx ends, then removes the node's row:
// a clean shutdown leaves no node to be reported down.
func (r *Registry) Run(ctx context.Context) {
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
			return
		case <-t.C:
			n := r.self
			n.Heartbeat = r.now().UTC()
			if err := r.store.BeatNode(ctx, n); err != nil && ctx.Err() == nil {
				r.log.Warn("node heartbeat", "err", err)
			}
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
