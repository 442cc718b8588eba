package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
)

// Handler runs one attempt of a job. A non-nil result is stored as JSON. An
// error whose errs.Kind is a caller error (Invalid, NotExist, Conflict,
// Permission, Quota) fails the job at once; any other error is retried with
// backoff until MaxAttempts.
type Handler func(ctx context.Context, j Job) (result any, err error)

// Registration binds a kind to its handler. OnFailure, when set, runs once
// after the last attempt fails, to put the resource into its error state.
type Registration struct {
	Kind      string
	Handle    Handler
	OnFailure func(ctx context.Context, j Job, err error) error
}

// Options tune the runner; zero values take the defaults.
type Options struct {
	Workers      int           // concurrent jobs; default 4
	Lease        time.Duration // default 30s
	PollInterval time.Duration // default 1s; Wake makes new jobs start sooner
	BaseBackoff  time.Duration // default 1s, doubled per attempt, capped at 5m
	Now          func() time.Time
	Logger       *slog.Logger
	// Owner names the runner in job leases (a node's id); default a
	// random one.
	Owner string
	// HandBack makes a stopping runner cancel its running handlers and
	// put their jobs back in the queue at once, attempt uncounted, rather
	// than let them finish: in a cluster another node takes them over
	// without waiting for the lease to lapse. Handlers are idempotent
	// steps (a crash may stop them anywhere), so cutting one is safe.
	HandBack bool
}

// Runner claims and runs jobs. One per process; several processes (nodes)
// may share one store.
type Runner struct {
	store    Store
	o        Options
	owner    string
	handlers map[string]Registration
	kinds    []string
	wake     chan struct{}
	wg       sync.WaitGroup
}

func NewRunner(store Store, o Options) *Runner {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Owner == "" {
		o.Owner = uuid.NewString()
	}
	return &Runner{store: store, o: o, owner: o.Owner, handlers: map[string]Registration{}, wake: make(chan struct{}, 1)}
}

// Register adds a handler; call before Start.
func (r *Runner) Register(reg Registration) {
	if _, dup := r.handlers[reg.Kind]; !dup {
		r.kinds = append(r.kinds, reg.Kind)
	}
	r.handlers[reg.Kind] = reg
}

// Wake asks idle workers to look for work now instead of at the next poll.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs jobs until ctx is cancelled, then waits for running
// handlers to return. Handlers see a context that stays alive while they
// drain, so an in-flight step finishes rather than being torn mid-way;
// with HandBack they are cancelled instead and their jobs re-queued.
func (r *Runner) Run(ctx context.Context) {
	if len(r.kinds) == 0 {
		<-ctx.Done()
		return
	}
	sem := make(chan struct{}, r.o.Workers)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.reapLoop(ctx)
	}()
	ticker := time.NewTicker(r.o.PollInterval)
	defer ticker.Stop()
	for {
		// Fill free workers while jobs are ready.
		for ctx.Err() == nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				continue
			}
			j, ok, err := r.claim(ctx)
			if err != nil || !ok {
				<-sem
				if err != nil && ctx.Err() == nil {
					r.o.Logger.Error("claim job", "err", err)
				}
				break
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				defer func() { <-sem }()
				hctx := ctx
				if !r.o.HandBack {
					hctx = context.WithoutCancel(ctx)
				}
				r.runOne(hctx, j)
			}()
		}
		select {
		case <-ctx.Done():
			r.wg.Wait()
			return
		case <-ticker.C:
		case <-r.wake:
		}
	}
}

func (r *Runner) claim(ctx context.Context) (Job, bool, error) {
	now := r.o.Now()
	return r.store.ClaimJob(ctx, r.owner, r.kinds, now, now.Add(r.o.Lease))
}

// beat is how often leases are extended and lapsed ones looked for: a
// fifth of the lease, so that four missed beats in a row still keep it.
func (r *Runner) beat() time.Duration { return r.o.Lease / 5 }

func (r *Runner) reapLoop(ctx context.Context) {
	t := time.NewTicker(r.beat())
	defer t.Stop()
	for {
		n, err := r.store.RequeueExpiredJobs(ctx, r.o.Now())
		if err != nil && ctx.Err() == nil {
			r.o.Logger.Error("requeue expired jobs", "err", err)
		}
		if n > 0 {
			r.o.Logger.Warn("requeued jobs whose lease expired", "count", n)
			r.Wake()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runOne runs one attempt of j; ctx is the handler's, cancelled only when
// a HandBack runner stops. The job's record is written whatever ctx says.
func (r *Runner) runOne(ctx context.Context, j Job) {
	log := r.o.Logger.With("job", j.ID, "kind", j.Kind, "attempt", j.Attempts)
	reg := r.handlers[j.Kind]
	handBack := ctx
	hctx, cancel := context.WithCancel(ctx)
	ctx = context.WithoutCancel(ctx)
	defer cancel()
	// Heartbeat: extend the lease while the handler runs; losing it means
	// another node took over, so stop our attempt.
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		t := time.NewTicker(r.beat())
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				if err := r.store.ExtendJobLease(hctx, j.ID, r.owner, r.o.Now().Add(r.o.Lease)); err != nil {
					if hctx.Err() == nil {
						log.Warn("lost job lease", "err", err)
						cancel()
					}
					return
				}
			}
		}
	}()
	result, err := safeHandle(hctx, reg.Handle, j)
	cancel()
	<-hbDone
	now := r.o.Now()
	if err != nil && handBack.Err() != nil {
		if rerr := r.store.ReleaseJob(ctx, j.ID, r.owner, now); rerr != nil {
			log.Error("hand a job back", "err", rerr)
		} else {
			log.Info("handed the job back at shutdown")
		}
		return
	}
	if err == nil {
		b := json.RawMessage("{}")
		if result != nil {
			if b, err = json.Marshal(result); err != nil {
				err = fmt.Errorf("encode result: %w", err)
			}
		}
		if err == nil {
			if ferr := r.store.FinishJob(ctx, j.ID, r.owner, Succeeded, b, "", now); ferr != nil {
				log.Error("record job success", "err", ferr)
			}
			return
		}
	}
	if retryable(err) && j.Attempts < j.MaxAttempts {
		backoff := r.o.BaseBackoff << min(j.Attempts-1, 20)
		backoff = min(backoff, 5*time.Minute)
		backoff += time.Duration(rand.Int64N(int64(backoff)/4 + 1))
		log.Warn("job attempt failed; will retry", "err", err, "in", backoff)
		if rerr := r.store.RetryJob(ctx, j.ID, r.owner, now.Add(backoff), errs.Message(err), now); rerr != nil {
			log.Error("requeue job", "err", rerr)
		}
		return
	}
	log.Error("job failed", "err", err)
	if reg.OnFailure != nil {
		if ferr := reg.OnFailure(ctx, j, err); ferr != nil {
			log.Error("job failure hook", "err", ferr)
		}
	}
	if ferr := r.store.FinishJob(ctx, j.ID, r.owner, Failed, json.RawMessage("{}"), errs.Message(err), now); ferr != nil {
		log.Error("record job failure", "err", ferr)
	}
}

// safeHandle turns a handler panic into a retryable error so one bad job
// cannot take the node down.
func safeHandle(ctx context.Context, h Handler, j Job) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errs.Wrap(errs.Internal, "job handler crashed", fmt.Errorf("panic: %v", p))
		}
	}()
	return h(ctx, j)
}

func retryable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return true
	}
	switch errs.KindOf(err) {
	case errs.Invalid, errs.NotExist, errs.Exist, errs.Conflict, errs.Permission, errs.Quota:
		return false
	}
	return true
}

// Service is the user-facing view of jobs.
type Service struct{ store Store }

func NewService(store Store) *Service { return &Service{store: store} }

func (s *Service) Get(ctx context.Context, sc access.Scope, id string) (Job, error) {
	return s.store.GetJob(ctx, sc, id)
}

func (s *Service) List(ctx context.Context, sc access.Scope, f Filter, r page.Request) (page.Result[Job], error) {
	r = r.Normalize()
	rows, err := s.store.ListJobs(ctx, sc, f, page.Request{Limit: r.Limit + 1, After: r.After})
	if err != nil {
		return page.Result[Job]{}, fmt.Errorf("list jobs: %w", err)
	}
	return page.Make(rows, r, func(j Job) string { return j.ID }), nil
}
