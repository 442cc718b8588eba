package server

import (
	"fmt"

	"github.com/stowage/stowage/internal/core/notification"
	"github.com/stowage/stowage/internal/webhook"
)

// notifications builds the targets of S3 event notifications under the
// operator's --notify-allow and registers the job that delivers events.
func (s *Server) notifications() error {
	policy, err := webhook.ParsePolicy(s.cfg.NotifyAllow)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	s.notify = notification.NewService(s.store, s.identity, s.sealer, policy, s.cfg.Region)
	s.runner.Register(webhook.NewNotifier(s.notify, policy).Registration())
	return nil
}
