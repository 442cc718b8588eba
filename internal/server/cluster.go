package server

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stowage/stowage/internal/core/cluster"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
	"github.com/stowage/stowage/internal/store/sqlstore"
)

// topicRevoke carries an export name whose clients every node cuts off.
const topicRevoke = "revoke"

// clusterLease is the job lease of nodes sharing PostgreSQL: short, so
// that a node that died has its jobs resumed by another within seconds
// (the runner extends it every fifth of it). One node on SQLite keeps the
// runner's default; nobody else could take its jobs over anyway.
const clusterLease = 5 * time.Second

// advertised is the address clients are told: the configured one, or the
// bound listener's.
func advertised(configured, bound string) string {
	if configured != "" {
		return configured
	}
	return bound
}

// nodeName is the configured name, or the host's.
func nodeName(configured string) string {
	if configured != "" {
		return configured
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "stowage"
}

// runnerOptions are the job runner's settings for this node: its id as
// the lease owner, and on PostgreSQL (where other nodes can take over) a
// short lease and leases handed back at shutdown.
func (s *Server) runnerOptions() jobs.Options {
	o := jobs.Options{Logger: s.log.With("component", "jobs"), Owner: s.nodeID}
	if s.store.Engine() == sqlstore.Postgres {
		o.Lease, o.HandBack = clusterLease, true
	}
	return o
}

// sessionKey is the key session tokens are signed with. A lone node keeps
// it in its data dir; nodes sharing PostgreSQL must all accept each
// other's sessions, so there the first node's key (sealed with the master
// key every node shares) is everyone's.
func (s *Server) sessionKey(ctx context.Context, local []byte) ([]byte, error) {
	if s.store.Engine() != sqlstore.Postgres {
		return local, nil
	}
	aad := []byte("cluster-secret:session")
	return s.store.SharedSecret(ctx, "session", local,
		func(b []byte) string { return s.sealer.Seal(b, aad) },
		func(v string) ([]byte, error) { return s.sealer.Open(v, aad) })
}

// cephClient is the RBD store as fencing uses it: its own client's
// address, and the blocklist.
type cephClient interface {
	ClientAddr() (string, error)
	cluster.Fencer
}

// cephFSClients is the CephFS store as fencing uses it: the addresses of
// its mounts, which hold MDS sessions and capabilities that only fencing
// releases at once when the node dies.
type cephFSClients interface {
	ClientAddrs() ([]string, error)
	OnMount(func(context.Context) error)
}

// nodeRegistry builds this node's entry in the node registry, once the
// listeners are bound. With volumes on RBD the entry records the Ceph
// clients' addresses (RBD's, and each CephFS mount's, refreshed by every
// heartbeat) and the node fences dead nodes (cluster.Fencer).
func (s *Server) nodeRegistry() (*cluster.Registry, error) {
	self := cluster.Node{ID: s.nodeID, Name: nodeName(s.cfg.NodeName),
		API: advertised(s.cfg.AdvertiseAPI, s.addrs.API), S3: advertised(s.cfg.AdvertiseS3, s.addrs.S3),
		NBD: advertised(s.cfg.AdvertiseNBD, s.addrs.NBD), NFS: advertised(s.cfg.AdvertiseNFS, s.addrs.NFS),
		Version: s.cfg.Version}
	var fence cluster.Fencer
	var clients func() (string, error)
	fs, onCephFS := s.files.(cephFSClients)
	if c, ok := s.ceph.(cephClient); ok {
		addr, err := c.ClientAddr()
		if err != nil {
			return nil, err
		}
		fence, clients = c, func() (string, error) { return addr, nil }
		if onCephFS {
			clients = func() (string, error) {
				fsAddrs, err := fs.ClientAddrs()
				return strings.Join(append([]string{addr}, fsAddrs...), " "), err
			}
		}
		if self.CephAddr, err = clients(); err != nil {
			return nil, err
		}
	}
	r := cluster.NewRegistry(s.store, self, fence, clients, s.log.With("component", "cluster"))
	if fence != nil && onCephFS {
		// A volume's mount is recorded before it takes any capability
		// beyond its root, not at the next heartbeat: a node killed in
		// between would keep them until the MDS session timeout.
		fs.OnMount(r.RecordClients)
	}
	return r, nil
}

// newNodeID names this run of the node: leases and the registry row.
func newNodeID() string { return "node-" + uuid.NewString() }

// localPlanes are this node's data planes, which cut off their own
// clients only.
func (s *Server) localPlanes() planes { return planes{s.exports, s.nfs} }

// clusterPlanes revokes an export on this node's data planes and tells
// every other node to do the same: a detach answered by one node must cut
// the export's NBD and NFS clients wherever they are connected.
type clusterPlanes struct{ s *Server }

func (p clusterPlanes) Revoke(ctx context.Context, name string) {
	p.s.localPlanes().Revoke(ctx, name)
	if err := p.s.store.Publish(context.WithoutCancel(ctx), topicRevoke, name); err != nil {
		// The attachment row is gone already: every node's next resolve
		// fails, and a node that lost its listener rechecks its clients
		// when it is back (resetCaches).
		p.s.log.Warn("tell the other nodes to cut an export's clients", "err", err)
	}
}

// listen applies other nodes' invalidations until ctx ends.
func (s *Server) listen(ctx context.Context) {
	s.store.Listen(ctx, s.log.With("component", "cluster"), func(ctx context.Context, topic, arg string) {
		if topic == topicRevoke {
			s.localPlanes().Revoke(ctx, arg)
		}
	}, s.resetCaches)
}

// resetCaches forgets what this node remembers of other nodes' changes,
// for when it may have missed some: NFS forgets its resolved exports, and
// NBD clients of exports that no longer resolve are cut off.
func (s *Server) resetCaches(ctx context.Context) {
	s.nfs.RevokeAll()
	s.exports.recheck(ctx)
}

// recheck cuts off the clients of every export this node serves that no
// longer resolves.
func (x *exports) recheck(ctx context.Context) {
	x.mu.Lock()
	names := make([]string, 0, len(x.live))
	for n := range x.live {
		names = append(names, n)
	}
	x.mu.Unlock()
	for _, n := range names {
		if _, err := x.vols.ResolveExport(ctx, n); errs.Is(err, errs.NotExist) {
			x.Revoke(ctx, n)
		}
	}
}

// checkCeph is readiness's question to Ceph: does the pool answer? (The
// RBD store pings one object; its Stats walks every image, far too dear
// for a load balancer's checks.)
func (s *Server) checkCeph(ctx context.Context) error {
	p, ok := s.ceph.(interface{ Ping(context.Context) error })
	if !ok {
		return nil
	}
	return p.Ping(ctx)
}

// nodeList is the registry's list for the native API, which is built
// before the listeners (and so the registry) exist.
func (s *Server) nodeList(ctx context.Context, p identity.Principal) ([]cluster.Status, error) {
	return s.nodes.List(ctx, p)
}
