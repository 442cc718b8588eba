package server

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stowage/stowage/internal/core/notification"
	"github.com/stowage/stowage/internal/jobs"
	"github.com/stowage/stowage/internal/store/sqlstore"
	"github.com/stowage/stowage/internal/webhook"
)

// notifyWorkers is how many events a node delivers at once.
const notifyWorkers = 8

// notifications builds the targets of S3 event notifications under the
// operator's --notify-allow, and a runner of its own for the jobs that
// deliver events: a slow or dead receiver (ten seconds an attempt) then
// holds only deliveries up, never the volume and order jobs.
func (s *Server) notifications() error {
	policy, err := webhook.ParsePolicy(s.cfg.NotifyAllow)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	s.notify = notification.NewService(s.store, s.identity, s.sealer, policy, s.cfg.Region)
	s.notifyRunner = jobs.NewRunner(s.store, jobs.Options{Workers: notifyWorkers, Logger: s.log.With("component", "notify")})
	s.notifyRunner.Register(webhook.NewNotifier(s.notify, policy).Registration())
	s.registry.MustRegister(&deliveryCollector{store: s.store, desc: prometheus.NewDesc("stowage_notification_jobs",
		"S3 event deliveries by state: failed ones exhausted their retries against a receiver that did not answer 2xx.", []string{"state"}, nil)})
	return nil
}

// deliveryCollector counts event deliveries, which stowage_jobs leaves
// out: they wait and fail with tenants' receivers, not with the node.
type deliveryCollector struct {
	store *sqlstore.Store
	desc  *prometheus.Desc
}

func (c *deliveryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *deliveryCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.store.CountDeliveriesByState(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, st := range []jobs.State{jobs.Queued, jobs.Running, jobs.Succeeded, jobs.Failed} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
}
