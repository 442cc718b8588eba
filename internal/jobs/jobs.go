// Package jobs owns asynchronous work: the job record (which is also the
// user-visible job resource) and the runner that claims jobs with a lease,
// heartbeats while a handler runs, retries with backoff, and re-queues jobs
// whose lease expired because their node died. Handlers are registered by
// kind and must be idempotent: after a crash a step may run again.
package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/page"
)

// State of a job.
type State string

const (
	Queued    State = "queued"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// Terminal reports whether the job will not change again.
func (s State) Terminal() bool { return s == Succeeded || s == Failed || s == Cancelled }

// Job is one unit of async work.
type Job struct {
	ID           string
	Kind         string
	ProjectID    string
	ResourceType string
	ResourceID   string
	State        State
	Payload      json.RawMessage
	Result       json.RawMessage
	Error        string
	Attempts     int
	MaxAttempts  int
	RunAfter     time.Time
	LeaseOwner   string
	LeaseUntil   time.Time
	Created      time.Time
	Updated      time.Time
	Finished     *time.Time
}

// New prepares a queued job; callers insert it in the same transaction that
// records the intent it carries out.
func New(kind, projectID, resourceType, resourceID string, payload any, now time.Time) (Job, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return Job{}, fmt.Errorf("job %s payload: %w", kind, err)
	}
	now = now.UTC()
	return Job{
		ID: uuid.Must(uuid.NewV7()).String(), Kind: kind, ProjectID: projectID,
		ResourceType: resourceType, ResourceID: resourceID, State: Queued,
		Payload: b, Result: json.RawMessage("{}"), MaxAttempts: 5,
		RunAfter: now, Created: now, Updated: now,
	}, nil
}

// Filter narrows job lists.
type Filter struct {
	State        State
	Kind         string
	ResourceType string
	ResourceID   string
}

// Store is what the runner and the job API need from persistence.
type Store interface {
	InsertJob(ctx context.Context, j Job) error
	// ClaimJob takes the oldest ready queued job of one of kinds, sets it
	// running under owner's lease and counts the attempt.
	ClaimJob(ctx context.Context, owner string, kinds []string, now, leaseUntil time.Time) (Job, bool, error)
	// ExtendJobLease fails with errs.Conflict when owner no longer holds it.
	ExtendJobLease(ctx context.Context, id, owner string, until time.Time) error
	// FinishJob records a terminal state if owner still holds the lease.
	FinishJob(ctx context.Context, id, owner string, state State, result json.RawMessage, msg string, now time.Time) error
	// RetryJob puts a running job back in the queue for later.
	RetryJob(ctx context.Context, id, owner string, runAfter time.Time, msg string, now time.Time) error
	// ReleaseJob puts a running job owner holds back in the queue, ready
	// now, without counting the attempt that was cut short.
	ReleaseJob(ctx context.Context, id, owner string, now time.Time) error
	// RequeueExpiredJobs returns running jobs with lapsed leases to the queue.
	RequeueExpiredJobs(ctx context.Context, now time.Time) (int, error)
	GetJob(ctx context.Context, s access.Scope, id string) (Job, error)
	ListJobs(ctx context.Context, s access.Scope, f Filter, r page.Request) ([]Job, error)
	CountJobsByState(ctx context.Context) (map[State]int, error)
}
