package server

import (
	"context"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stowage/stowage/internal/jobs"
)

// opsMetrics are what the alert rules in deploy/monitoring watch besides
// the request metrics of each face: jobs stuck in a state, the space the
// pools have left and the data planes' open connections. All are read at
// scrape time.
func (s *Server) opsMetrics() {
	s.nbdConns = newConnCap(maxNBDConnsPerAddr, maxConns)
	s.registry.MustRegister(
		&jobAgeCollector{s: s, desc: prometheus.NewDesc("stowage_job_oldest_age_seconds",
			"Age of the oldest job in the state (queued, running); absent when there is none.", []string{"state"}, nil)},
		&poolCollector{s: s,
			free:     prometheus.NewDesc("stowage_pool_free_bytes", "Free bytes on what the pool lives on (block: the volume pool or Ceph; object: the object store's file system).", []string{"pool"}, nil),
			capacity: prometheus.NewDesc("stowage_pool_capacity_bytes", "Capacity in bytes of what the pool lives on.", []string{"pool"}, nil),
			reserve:  prometheus.NewDesc("stowage_pool_reserve_bytes", "Free space the data planes leave untouched on the data dir (64 MiB): writes fail below it.", nil, nil)},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stowage_nbd_connections", Help: "Open NBD client connections."},
			func() float64 { return float64(s.nbdConns.count()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stowage_nfs_connections", Help: "Open NFS client connections."},
			func() float64 { return float64(s.nfs.Conns()) }),
	)
}

// count is the number of connections admitted and not yet released.
func (k *connCap) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n
}

type jobAgeCollector struct {
	s    *Server
	desc *prometheus.Desc
}

func (c *jobAgeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *jobAgeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	oldest, err := c.s.store.OldestJobs(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, st := range []jobs.State{jobs.Queued, jobs.Running} {
		if t, ok := oldest[st]; ok {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, time.Since(t).Seconds(), string(st))
		}
	}
}

type poolCollector struct {
	s                       *Server
	free, capacity, reserve *prometheus.Desc
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.free
	ch <- c.capacity
	ch <- c.reserve
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	block, err := c.s.blockPool().Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.free, err)
		return
	}
	object := space(filepath.Join(c.s.cfg.DataDir, "objects"))
	for name, sp := range map[string]struct{ free, capacity int64 }{
		"block": {block.FreeBytes, block.CapacityBytes}, "object": {object.FreeBytes, object.CapacityBytes}} {
		ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, float64(sp.free), name)
		ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(sp.capacity), name)
	}
	ch <- prometheus.MustNewConstMetric(c.reserve, prometheus.GaugeValue, float64(c.s.cfg.ReserveBytes))
}
