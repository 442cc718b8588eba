package server

import (
	"fmt"

	"github.com/stowage/stowage/internal/core/notification"
	"github.com/stowage/stowage/internal/jobs"
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
	return nil
}
