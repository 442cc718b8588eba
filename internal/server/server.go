// Package server owns assembly and lifetime: it opens the data dir and the
// store, bootstraps the first tenant, builds every component, binds the
// listeners, and drains them on shutdown. It is used by `stowage serve` and,
// in-process, by tests through testenv.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stowage/stowage/internal/api/cloudsigma"
	"github.com/stowage/stowage/internal/api/hpcai"
	"github.com/stowage/stowage/internal/api/native"
	"github.com/stowage/stowage/internal/api/waldur"
	"github.com/stowage/stowage/internal/api/wayscloud"
	"github.com/stowage/stowage/internal/blockstore"
	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/core/cluster"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/kms"
	"github.com/stowage/stowage/internal/core/marketplace"
	"github.com/stowage/stowage/internal/core/metering"
	"github.com/stowage/stowage/internal/core/notification"
	"github.com/stowage/stowage/internal/core/objectstorage"
	"github.com/stowage/stowage/internal/core/pool"
	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/httpapi"
	"github.com/stowage/stowage/internal/jobs"
	"github.com/stowage/stowage/internal/nbd"
	"github.com/stowage/stowage/internal/nfs"
	"github.com/stowage/stowage/internal/s3"
	"github.com/stowage/stowage/internal/seal"
	"github.com/stowage/stowage/internal/store/sqlstore"
)

// Server is a running Stowage node.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	store    *sqlstore.Store
	identity *identity.Service
	market   *marketplace.Service
	objects  *objectstorage.Manager
	kms      *kms.Service
	bodies   objectBodies
	runner   *jobs.Runner
	sealer   *seal.Sealer
	registry *prometheus.Registry
	apiLn    net.Listener
	api      *http.Server
	pool     *blockstore.Pool
	volumes  *volume.Service
	exports  *exports
	nbdLn    net.Listener
	nbd      *nbd.Server
	s3Ln     net.Listener
	s3       *http.Server
	s3h      *s3.Handler // runs the lifecycle passes
	files    fileVolumes
	nfsLn    net.Listener
	nfs      *nfs.Server
	counters *metering.Counters
	metering *metering.Service
	addrs    Addresses
	certs    *certs // nil without TLS
	nbdConns *connCap
	// nodeID names this run in the node registry and in job leases;
	// nodes is the registry, made once the listeners are bound.
	nodeID string
	nodes  *cluster.Registry
	// routes are the management API's patterns, as registered.
	routes  []string
	closeMu sync.Mutex
	closed  bool

	// notify manages the targets of S3 event notifications and
	// notifyRunner delivers the events (notify.go).
	notify       *notification.Service
	notifyRunner *jobs.Runner

	// ceph, when the node keeps block volumes on RBD, is the pool the
	// operator sees, closed after the NBD exports that use it.
	ceph interface {
		io.Closer
		pool.Block
	}
}

// Run starts a server and serves until ctx is cancelled.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	s, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return s.Serve(ctx)
}

// New prepares the data dir, the store and every component, and binds the
// listeners (so addresses are known before Serve), but serves nothing yet.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := cephBuilt(cfg); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := tightenDataDir(cfg.DataDir, log); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, registry: prometheus.NewRegistry(), counters: metering.NewCounters(0), nodeID: newNodeID()}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	var err error
	if s.store, err = sqlstore.Open(ctx, cfg.DatabaseDSN()); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// A new database and its -wal and -shm files were just created with
	// the default mode; later ones inherit the database file's.
	if err := tightenDataDir(cfg.DataDir, log); err != nil {
		return nil, err
	}
	jwtKey, err := loadOrCreateKey(filepath.Join(cfg.DataDir, jwtKeyFile))
	if err != nil {
		return nil, err
	}
	if s.sealer, err = s.masterSealer(); err != nil {
		return nil, err
	}
	if jwtKey, err = s.sessionKey(ctx, jwtKey); err != nil {
		return nil, err
	}
	if s.identity, err = identity.NewService(s.store, identity.Options{JWTKey: jwtKey,
		HashSlots:    identity.HashSlots(hashMemory()),
		PasswordCost: identity.PasswordCost{Time: cfg.PasswordHashTime, MemoryKiB: cfg.PasswordHashMemoryKiB}}); err != nil {
		return nil, err
	}
	if err := s.bootstrap(ctx); err != nil {
		return nil, err
	}
	s.runner = jobs.NewRunner(s.store, s.runnerOptions())
	if err := s.loadCerts(); err != nil {
		return nil, err
	}
	if err := s.block(ctx); err != nil {
		return nil, err
	}
	s.market = marketplace.NewService(s.store, s.identity, s.runner.Wake)
	s.runner.Register(s.market.Registration())
	s.market.SetProvisioner(marketplace.KindVolume, s.volumes.Provisioner())
	var blockTypes []string
	for _, t := range s.volumes.Catalog().Types() {
		if t.Kind == volume.KindBlock {
			blockTypes = append(blockTypes, t.Name)
		}
	}
	if err := s.market.EnsureDefaultCatalog(ctx, blockTypes); err != nil {
		return nil, err
	}
	if err := s.notifications(); err != nil {
		return nil, err
	}
	if err := s.objectPlane(ctx); err != nil {
		return nil, err
	}
	s.meteringService()
	s.enableTransfers()
	// Whoever stops being a member keeps no capability they could read.
	s.identity.OnAccessLost(s.volumes.TakeBack)
	s.identity.OnAccessLost(s.objects.TakeBack)

	mux := httpapi.NewRecordingMux()
	s.register(mux)
	if err := s.registerConsole(mux); err != nil {
		return nil, err
	}
	s.routes = mux.Patterns()
	obs := httpapi.NewObserver(log.With("component", "api"), s.registry)
	s.api = &http.Server{Handler: obs.Wrap(allowHosts(cfg.AllowedHosts, mux)), ReadHeaderTimeout: cfg.HeaderTimeout, ReadTimeout: cfg.BodyTimeout,
		IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: cfg.MaxHeaderBytes, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newJobCollector(s.store))
	s.opsMetrics()

	if s.apiLn, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen api %s: %w", cfg.Listen, err)
	}
	s.apiLn = capListener{s.apiLn, newConnCap(maxConnsPerAddr, maxConns)}
	if s.s3Ln, err = net.Listen("tcp", cfg.S3Listen); err != nil {
		return nil, fmt.Errorf("listen s3 %s: %w", cfg.S3Listen, err)
	}
	s.s3Ln = capListener{s.s3Ln, newConnCap(maxConnsPerAddr, maxConns)}
	s.addrs = Addresses{API: s.apiLn.Addr().String(), S3: s.s3Ln.Addr().String(), NBD: s.nbdLn.Addr().String(), NFS: s.nfsLn.Addr().String()}
	s.setupTLS()
	if err := writeAddresses(cfg.DataDir, s.addrs); err != nil {
		return nil, err
	}
	if s.nodes, err = s.nodeRegistry(); err != nil {
		return nil, err
	}
	log.Info("listening", "tls", s.addrs.TLS, "api", s.addrs.API, "s3", s.addrs.S3, "nbd", s.addrs.NBD, "nfs", s.addrs.NFS, "data_dir", cfg.DataDir, "database", string(s.store.Engine()))
	ok = true
	return s, nil
}

// block opens the volume pool and the filesystem store, binds the NBD and
// NFS listeners (their addresses go into connection_info) and builds the
// volume service over them.
func (s *Server) block(ctx context.Context) error {
	if err := s.filesystems(ctx); err != nil {
		return err
	}
	var err error
	if s.pool, err = blockstore.Open(ctx, filepath.Join(s.cfg.DataDir, "blocks"), blockstore.Options{Reserve: s.cfg.ReserveBytes}); err != nil {
		return fmt.Errorf("volume pool: %w", err)
	}
	if s.nbdLn, err = net.Listen("tcp", s.cfg.NBDListen); err != nil {
		return fmt.Errorf("listen nbd %s: %w", s.cfg.NBDListen, err)
	}
	catalog, err := volume.NewCatalog(s.cfg.Region, s.cfg.Zones, volume.DefaultTypes())
	if err != nil {
		return fmt.Errorf("volume types: %w", err)
	}
	var backend volume.Backend = poolBackend{s.pool}
	var data blockData = poolData{s.pool}
	if s.cfg.Ceph != "" {
		if backend, data, err = s.openCeph(ctx); err != nil {
			return err
		}
	}
	s.exports = newExports(data, s.counters)
	s.volumes = volume.NewService(s.store, backend, clusterPlanes{s}, s.identity, catalog,
		volume.Options{NBDAddress: advertised(s.cfg.AdvertiseNBD, s.nbdLn.Addr().String()),
			NFSAddress: advertised(s.cfg.AdvertiseNFS, s.nfsLn.Addr().String()), NBDTLS: s.nbdTLS() != nil, Files: s.files, Wake: s.runner.Wake})
	s.exports.vols = s.volumes
	for _, reg := range s.volumes.Registrations() {
		s.runner.Register(reg)
	}
	s.nbd = nbd.NewServer(s.exports, nbd.Options{Logger: s.log.With("component", "nbd"), HandshakeTimeout: s.cfg.HeaderTimeout,
		TLS: s.nbdTLS(), RequireTLS: s.cfg.NBDTLS == "require"})
	return nil
}

func (s *Server) masterSealer() (*seal.Sealer, error) {
	var key []byte
	var err error
	if s.cfg.MasterKey != "" {
		key, err = seal.ParseKey(s.cfg.MasterKey)
	} else {
		key, err = loadOrCreateKey(filepath.Join(s.cfg.DataDir, masterKeyFile))
	}
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return seal.New(key)
}

// bootstrap creates the first tenant and writes the admin's credentials to
// files only the server's user can read; their values are never logged.
func (s *Server) bootstrap(ctx context.Context) error {
	res, err := s.identity.Bootstrap(ctx)
	if err != nil || !res.Created {
		return err
	}
	tokenPath := filepath.Join(s.cfg.DataDir, adminTokenFile)
	pwPath := filepath.Join(s.cfg.DataDir, adminPasswordFile)
	if err := writeFileAtomic(tokenPath, []byte(res.Token+"\n"), 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(pwPath, []byte(res.Password+"\n"), 0o600); err != nil {
		return err
	}
	s.log.Info("first start: created organisation, project and user 'admin'", "token_file", tokenPath, "password_file", pwPath)
	return nil
}

func (s *Server) register(mux *httpapi.RecordingMux) {
	native.New(s.identity, jobs.NewService(s.store), s.market, s.objects, s.s3Endpoint, s.log.With("component", "native"), s.cfg.MaxBodyBytes).
		WithVolumes(s.volumes).WithPools(s.pools()).WithMetering(s.metering).WithKMS(s.kms).WithNodes(s.nodeList).WithNotifications(s.notify).Register(mux)
	waldur.New(s.identity, s.market, s.log.With("component", "waldur"), s.cfg.MaxBodyBytes).WithVolumes(s.volumes).WithMetering(s.metering).
		WithOptions(waldur.Options{ActionStatus: s.cfg.WaldurActionStatus, PublicURL: s.cfg.PublicURL}).Register(mux)
	cloudsigma.New(s.identity, s.volumes, jobs.NewService(s.store), s.log.With("component", "cloudsigma"), s.cfg.MaxBodyBytes).Register(mux)
	wayscloud.New(s.identity, s.objects, s.s3Endpoint, s.log.With("component", "wayscloud"), s.cfg.MaxBodyBytes).
		WithRegions(s.cfg.DialectRegions["wayscloud"], s.cfg.DialectRegions["wayscloud-s3"]).Register(mux)
	hpcai.New(s.identity, s.volumes, s.log.With("component", "hpcai"), s.cfg.MaxBodyBytes).
		WithRegionID(s.cfg.DialectRegions["hpcai"]).Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
}

// readyz answers 200 only when the database answers (and, on PostgreSQL,
// the node hears other nodes' invalidations), the data dir takes a write
// and Ceph, when configured, answers: what serving requests needs.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	err := s.store.Ping(ctx)
	if err == nil {
		err = s.store.Listening()
	}
	if err == nil {
		err = probeWritable(s.cfg.DataDir)
	}
	if err == nil {
		err = s.checkCeph(ctx)
	}
	w.Header().Set("Content-Type", "text/plain")
	if err != nil {
		s.log.Warn("not ready", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

func probeWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".ready-*")
	if err != nil {
		return fmt.Errorf("data dir not writable: %w", err)
	}
	name := f.Name()
	_, err = f.Write([]byte("x"))
	err = errors.Join(err, f.Close(), os.Remove(name))
	if err != nil {
		return fmt.Errorf("data dir not writable: %w", err)
	}
	return nil
}

// Routes returns every ServeMux pattern of the management API, in the
// order the surfaces registered them.
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

// Addrs returns the bound listener addresses.
func (s *Server) Addrs() Addresses { return s.addrs }

// Serve runs the listeners and the job runner until ctx is cancelled, then
// stops taking new work, lets in-flight requests and jobs finish (bounded by
// the shutdown timeout) and closes everything.
func (s *Server) Serve(ctx context.Context) error {
	defer s.Close()
	if err := s.nodes.Join(ctx); err != nil {
		if ctx.Err() != nil {
			// Stopped before it joined: a clean stop, with nothing to drain.
			return nil
		}
		return err
	}
	runCtx, stopRunner := context.WithCancel(context.WithoutCancel(ctx))
	clusterDone := make(chan struct{})
	go func() {
		defer close(clusterDone)
		s.listen(runCtx)
	}()
	// A fenced node stops serving at once and exits non-zero, so that its
	// supervisor restarts it with a fresh Ceph client (cluster.ErrFenced).
	fenced := make(chan error, 1)
	nodeDone := make(chan struct{})
	go func() {
		defer close(nodeDone)
		if err := s.nodes.Run(runCtx); err != nil {
			s.log.Error("fenced by another node: stopping without writing more", "err", err)
			fenced <- err
		}
	}()
	runnerDone := make(chan struct{})
	go func() {
		defer close(runnerDone)
		s.runner.Run(runCtx)
	}()
	notifyDone := make(chan struct{})
	go func() {
		defer close(notifyDone)
		s.notifyRunner.Run(runCtx)
	}()
	serveErr := make(chan error, 4)
	go func() { serveErr <- s.serveHTTP(s.api, s.apiLn) }()
	go func() { serveErr <- s.serveHTTP(s.s3, s.s3Ln) }()
	go s.watchReload(runCtx)
	// NBD clients are cut off when the runner stops: a drained job may still
	// need to revoke an export, and nothing may write to the pool after it.
	nbdDone := make(chan struct{})
	go func() {
		defer close(nbdDone)
		if err := serveNBD(runCtx, s.nbdLn, s.nbd, s.nbdConns); err != nil {
			serveErr <- fmt.Errorf("nbd listener: %w", err)
		}
	}()
	nfsDone := make(chan struct{})
	go func() {
		defer close(nfsDone)
		if err := s.nfs.Serve(runCtx, s.nfsLn); err != nil {
			serveErr <- fmt.Errorf("nfs listener: %w", err)
		}
	}()
	meterDone := make(chan struct{})
	go func() {
		defer close(meterDone)
		s.metering.Run(runCtx)
	}()
	lifecycleDone := make(chan struct{})
	go func() {
		defer close(lifecycleDone)
		s.runLifecycle(runCtx)
	}()
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		s.sweepBlobs(runCtx)
	}()
	kmsDone := make(chan struct{})
	go func() {
		defer close(kmsDone)
		s.kms.RunDestroyer(runCtx, kmsDestroyInterval, func(msg string, args ...any) { s.log.Info(msg, args...) })
	}()
	retentionDone := make(chan struct{})
	go func() {
		defer close(retentionDone)
		s.volumes.RunRetention(runCtx, s.cfg.RetentionInterval, func(msg string, args ...any) { s.log.Warn(msg, args...) })
	}()

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
	case err = <-fenced:
	}
	s.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if serr := s.api.Shutdown(shutCtx); serr != nil {
		err = errors.Join(err, fmt.Errorf("drain api: %w", serr))
	}
	if serr := s.s3.Shutdown(shutCtx); serr != nil {
		err = errors.Join(err, fmt.Errorf("drain s3: %w", serr))
	}
	stopRunner()
	drained := true
	for _, done := range []chan struct{}{runnerDone, notifyDone} {
		select {
		case <-done:
		case <-shutCtx.Done():
			drained = false
		}
	}
	if !drained {
		err = errors.Join(err, errors.New("jobs did not drain before the shutdown timeout"))
	}
	<-nbdDone
	<-nfsDone
	<-retentionDone
	<-meterDone
	<-lifecycleDone
	<-sweepDone
	<-kmsDone
	<-nodeDone
	<-clusterDone
	return err
}

// Close releases everything; it is idempotent.
func (s *Server) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	for _, ln := range []net.Listener{s.apiLn, s.s3Ln, s.nbdLn, s.nfsLn} {
		if ln != nil {
			ln.Close()
		}
	}
	if s.pool != nil {
		err = s.pool.Close()
	}
	if s.ceph != nil {
		err = errors.Join(err, s.ceph.Close())
	}
	if s.files != nil {
		err = errors.Join(err, s.files.Close())
	}
	if s.bodies != nil {
		err = errors.Join(err, s.bodies.Close())
	}
	if s.store != nil {
		err = errors.Join(err, s.store.Close())
	}
	return err
}

// jobCollector exports job counts by state, read at scrape time.
type jobCollector struct {
	store *sqlstore.Store
	desc  *prometheus.Desc
}

func newJobCollector(st *sqlstore.Store) *jobCollector {
	return &jobCollector{store: st, desc: prometheus.NewDesc("stowage_jobs", "Jobs by state.", []string{"state"}, nil)}
}

func (c *jobCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *jobCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.store.CountJobsByState(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	// Event deliveries wait and fail with tenants' receivers: they are
	// stowage_notification_jobs (notify.go), not the node's jobs.
	deliveries, err := c.store.CountDeliveriesByState(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, st := range []jobs.State{jobs.Queued, jobs.Running, jobs.Succeeded, jobs.Failed, jobs.Cancelled} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[st]-deliveries[st]), string(st))
	}
}
