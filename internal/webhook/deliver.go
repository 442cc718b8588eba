package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/notification"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
)

// Targets resolves the ARN an event was queued for to its webhook and
// secret (notification.Service).
type Targets interface {
	Resolve(ctx context.Context, projectID, arn string) (notification.Target, []byte, error)
}

// deliveryTimeout bounds one delivery attempt, well inside a job lease.
const deliveryTimeout = 10 * time.Second

// Notifier delivers the event messages the metadata store queued as
// jobs: one POST per event and target, signed, retried with backoff by
// the jobs runner until the receiver answers 2xx. A crash between the
// receiver's answer and the job's end makes another attempt with the
// same event id, so receivers deduplicate on HeaderEventID.
type Notifier struct {
	targets Targets
	client  *http.Client
	now     func() time.Time
}

// NewNotifier delivers to what policy allows.
func NewNotifier(targets Targets, policy *Policy) *Notifier {
	return &Notifier{targets: targets, client: policy.Client(deliveryTimeout), now: time.Now}
}

// Registration is the delivery job for the runner.
func (n *Notifier) Registration() jobs.Registration {
	return jobs.Registration{Kind: bucket.NotifyJobKind, Handle: n.deliver}
}

// deliver POSTs one event message. Any answer but 2xx, and any network
// failure, is retried; a target since deleted fails the job at once.
func (n *Notifier) deliver(ctx context.Context, j jobs.Job) (any, error) {
	var pl bucket.NotifyPayload
	if err := json.Unmarshal(j.Payload, &pl); err != nil {
		return nil, errs.Wrap(errs.Invalid, "notification payload", err)
	}
	t, secret, err := n.targets.Resolve(ctx, j.ProjectID, pl.ARN)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(pl.Message)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, "encode event", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, "target URL", err)
	}
	ts := n.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Stowage-Notifications/1")
	req.Header.Set(HeaderEventID, j.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(secret, ts, body))
	resp, err := n.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("deliver to target %s: %w", t.Name, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("deliver to target %s: it answered %s", t.Name, resp.Status)
	}
	return map[string]any{"target": t.Name, "status": resp.StatusCode}, nil
}
