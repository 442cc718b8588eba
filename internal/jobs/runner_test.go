package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/jobs"
	"github.com/stowage/stowage/internal/store/sqlstore"
	"github.com/stowage/stowage/internal/testenv"
)

func TestMain(m *testing.M) {
	if os.Getenv("JOBS_CHILD_DB") != "" {
		crashingChild()
		return
	}
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

type engine struct {
	name string
	dsn  func(t *testing.T) string
}

var engines = []engine{
	{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "jobs.db") }},
	{"postgres", func(t *testing.T) string { return testenv.FreshPostgres(t) }},
}

func openStore(t *testing.T, dsn string) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func insert(t *testing.T, st *sqlstore.Store, kind string, payload any) jobs.Job {
	t.Helper()
	j, err := jobs.New(kind, "", "test", "r1", payload, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.InsertJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return j
}

func waitState(t *testing.T, st *sqlstore.Store, id string, want jobs.State) jobs.Job {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := st.GetJob(context.Background(), access.System, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == want {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s (%s), want %s", id, j.State, j.Error, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runRunner(t *testing.T, r *jobs.Runner) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestRunnerRetriesAndFails(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			st := openStore(t, e.dsn(t))
			r := jobs.NewRunner(st, jobs.Options{PollInterval: 20 * time.Millisecond, BaseBackoff: 10 * time.Millisecond, Lease: 3 * time.Second})
			var flaky, failHook atomic.Int32
			r.Register(jobs.Registration{Kind: "flaky", Handle: func(ctx context.Context, j jobs.Job) (any, error) {
				if flaky.Add(1) < 3 {
					return nil, errors.New("transient")
				}
				return map[string]int{"tries": int(flaky.Load())}, nil
			}})
			r.Register(jobs.Registration{Kind: "invalid", Handle: func(ctx context.Context, j jobs.Job) (any, error) {
				return nil, errs.E(errs.Invalid, "size must grow")
			}, OnFailure: func(ctx context.Context, j jobs.Job, err error) error { failHook.Add(1); return nil }})
			r.Register(jobs.Registration{Kind: "panics", Handle: func(ctx context.Context, j jobs.Job) (any, error) {
				panic("boom")
			}})
			a, b, c := insert(t, st, "flaky", nil), insert(t, st, "invalid", nil), insert(t, st, "panics", nil)
			runRunner(t, r)
			r.Wake()
			ja := waitState(t, st, a.ID, jobs.Succeeded)
			if ja.Attempts != 3 || string(ja.Result) != `{"tries":3}` {
				t.Errorf("flaky job: attempts %d result %s", ja.Attempts, ja.Result)
			}
			jb := waitState(t, st, b.ID, jobs.Failed)
			if jb.Attempts != 1 || jb.Error != "size must grow" || failHook.Load() != 1 {
				t.Errorf("invalid job: attempts %d error %q hook %d", jb.Attempts, jb.Error, failHook.Load())
			}
			jc := waitState(t, st, c.ID, jobs.Failed)
			if jc.Attempts != jc.MaxAttempts {
				t.Errorf("panicking job failed after %d attempts, want %d", jc.Attempts, jc.MaxAttempts)
			}
		})
	}
}

// TestConcurrentClaimsTakeEachJobOnce runs several runners on one store (as
// several nodes would) and checks no job runs twice.
func TestConcurrentClaimsTakeEachJobOnce(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			dsn := e.dsn(t)
			var runs atomic.Int32
			seen := make(chan string, 200)
			var ids []string
			st := openStore(t, dsn)
			for i := 0; i < 60; i++ {
				ids = append(ids, insert(t, st, "count", i).ID)
			}
			for n := 0; n < 3; n++ {
				node := openStore(t, dsn)
				r := jobs.NewRunner(node, jobs.Options{Workers: 4, PollInterval: 10 * time.Millisecond})
				r.Register(jobs.Registration{Kind: "count", Handle: func(ctx context.Context, j jobs.Job) (any, error) {
					runs.Add(1)
					seen <- j.ID
					return nil, nil
				}})
				runRunner(t, r)
			}
			for _, id := range ids {
				waitState(t, st, id, jobs.Succeeded)
			}
			if runs.Load() != int32(len(ids)) {
				t.Fatalf("%d runs for %d jobs", runs.Load(), len(ids))
			}
		})
	}
}

// TestJobSurvivesCrash starts a runner in a child process, kills it with
// SIGKILL while its handler is mid-step, and checks that after the lease
// lapses a new runner re-runs the job to completion, with the idempotent
// step taking effect exactly once.
func TestJobSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "jobs.db")
	st := openStore(t, dsn)
	effect := filepath.Join(dir, "effect")
	j := insert(t, st, "step", map[string]string{"file": effect})

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "JOBS_CHILD_DB="+dsn)
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	started := effect + ".started"
	for deadline := time.Now().Add(20 * time.Second); ; {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			child.Process.Kill()
			t.Fatal("child never started the job")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	mid, err := st.GetJob(context.Background(), access.System, j.ID)
	if err != nil || mid.State != jobs.Running {
		t.Fatalf("after the crash the job is %s (%v), want running under the dead lease", mid.State, err)
	}

	r := jobs.NewRunner(st, jobs.Options{PollInterval: 20 * time.Millisecond, Lease: 600 * time.Millisecond})
	r.Register(jobs.Registration{Kind: "step", Handle: idempotentStep})
	runRunner(t, r)
	done := waitState(t, st, j.ID, jobs.Succeeded)
	if done.Attempts != 2 {
		t.Errorf("attempts %d, want 2 (the killed one and the re-run)", done.Attempts)
	}
	b, err := os.ReadFile(effect)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(b), "applied\n"); got != 1 {
		t.Fatalf("effect applied %d times, want exactly once: %q", got, b)
	}
}

// idempotentStep applies its effect once: it checks for the marker first,
// as every real job step must after a crash.
func idempotentStep(ctx context.Context, j jobs.Job) (any, error) {
	var p struct{ File string }
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(p.File); err == nil && strings.Contains(string(b), "applied\n") {
		return nil, nil
	}
	if err := os.WriteFile(p.File+".started", []byte("x"), 0o600); err != nil {
		return nil, err
	}
	if os.Getenv("JOBS_CHILD_DB") != "" {
		// The child dies here, mid-step, before the effect lands.
		time.Sleep(time.Hour)
	}
	return nil, os.WriteFile(p.File, []byte("applied\n"), 0o600)
}

// crashingChild is the node that dies: it claims the job with a short lease
// and blocks in the step until the parent kills it.
func crashingChild() {
	st, err := sqlstore.Open(context.Background(), os.Getenv("JOBS_CHILD_DB"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	r := jobs.NewRunner(st, jobs.Options{PollInterval: 10 * time.Millisecond, Lease: 600 * time.Millisecond})
	r.Register(jobs.Registration{Kind: "step", Handle: idempotentStep})
	r.Run(context.Background())
}

func TestJobVisibility(t *testing.T) {
	e := testenv.Start(t)
	st := openStore(t, "sqlite:"+filepath.Join(e.DataDir, "stowage.db"))
	ctx := context.Background()
	projects, err := st.ListProjects(ctx, access.System, identity.ProjectFilter{}, page.Request{Limit: 10})
	if err != nil || len(projects) != 1 {
		t.Fatalf("projects %v %v", projects, err)
	}
	j, _ := jobs.New("noop", projects[0].ID, "volume", "v1", nil, time.Now())
	if err := st.InsertJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	sys := insert(t, st, "gc", nil)
	outsider := access.Scope{UserID: "someone-else"}
	if _, err := st.GetJob(ctx, outsider, j.ID); !errs.Is(err, errs.NotExist) {
		t.Fatalf("outsider got job: %v", err)
	}
	if got, _ := st.ListJobs(ctx, outsider, jobs.Filter{}, page.Request{Limit: 10}); len(got) != 0 {
		t.Fatalf("outsider lists %d jobs", len(got))
	}
	bound := access.Scope{Staff: true, Project: projects[0].ID}
	if got, _ := st.ListJobs(ctx, bound, jobs.Filter{}, page.Request{Limit: 10}); len(got) != 1 || got[0].ID != j.ID {
		t.Fatalf("project-bound staff lists %+v, want only the project's job", got)
	}
	if _, err := st.GetJob(ctx, bound, sys.ID); !errs.Is(err, errs.NotExist) {
		t.Fatalf("project-bound scope sees a system job: %v", err)
	}
}

// TestHandBackAtShutdown stops a HandBack runner while its handler is
// mid-step and checks that the job is back in the queue at once, the cut
// attempt uncounted, and that another runner finishes it long before the
// (minute-long) lease could have lapsed.
func TestHandBackAtShutdown(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			dsn := e.dsn(t)
			st := openStore(t, dsn)
			j := insert(t, st, "slow", nil)
			started := make(chan struct{})
			a := jobs.NewRunner(openStore(t, dsn), jobs.Options{PollInterval: 10 * time.Millisecond, Lease: time.Minute, HandBack: true, Owner: "node-a"})
			a.Register(jobs.Registration{Kind: "slow", Handle: func(ctx context.Context, j jobs.Job) (any, error) {
				close(started)
				<-ctx.Done()
				return nil, ctx.Err()
			}})
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); a.Run(ctx) }()
			<-started
			if mid, _ := st.GetJob(context.Background(), access.System, j.ID); mid.LeaseOwner != "node-a" {
				t.Errorf("lease owner %q, want the runner's Owner", mid.LeaseOwner)
			}
			stop()
			<-done
			back, err := st.GetJob(context.Background(), access.System, j.ID)
			if err != nil || back.State != jobs.Queued || back.Attempts != 0 || back.LeaseOwner != "" {
				t.Fatalf("after shutdown the job is %s, attempts %d, owner %q (%v); want queued, 0, none", back.State, back.Attempts, back.LeaseOwner, err)
			}
			began := time.Now()
			b := jobs.NewRunner(openStore(t, dsn), jobs.Options{PollInterval: 10 * time.Millisecond, Lease: time.Minute})
			b.Register(jobs.Registration{Kind: "slow", Handle: func(ctx context.Context, j jobs.Job) (any, error) { return nil, nil }})
			runRunner(t, b)
			fin := waitState(t, st, j.ID, jobs.Succeeded)
			if fin.Attempts != 1 {
				t.Errorf("attempts %d, want 1", fin.Attempts)
			}
			t.Logf("taken over %s after the shutdown", time.Since(began).Round(time.Millisecond))
		})
	}
}
