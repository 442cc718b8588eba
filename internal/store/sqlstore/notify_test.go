package sqlstore_test

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/store/sqlstore"
	"github.com/stowage/stowage/internal/testenv"
)

// listener is one node's side of the invalidation bus, recording what it
// heard.
type listener struct {
	st     *sqlstore.Store
	mu     sync.Mutex
	heard  []string
	resets atomic.Int32
}

func listen(t *testing.T, dsn string) *listener {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{st: st}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.Listen(ctx, slog.New(slog.DiscardHandler), func(_ context.Context, topic, arg string) {
			l.mu.Lock()
			l.heard = append(l.heard, topic+" "+arg)
			l.mu.Unlock()
		}, func(context.Context) { l.resets.Add(1) })
	}()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	waitFor(t, "the listener to connect", func() bool { return st.Listening() == nil })
	return l
}

func (l *listener) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.heard) == 0 {
		return ""
	}
	return l.heard[len(l.heard)-1]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestInvalidationBus: a notice one node publishes has been applied by
// every listening node when Publish returns, and a listener whose
// connection is cut says it is not listening, resets (drops what it
// remembers) and comes back.
func TestInvalidationBus(t *testing.T) {
	dsn := testenv.FreshPostgres(t)
	a, b := listen(t, dsn), listen(t, dsn)
	for i := range 20 {
		arg := "export-" + string(rune('a'+i))
		if err := a.st.Publish(context.Background(), "revoke", arg); err != nil {
			t.Fatal(err)
		}
		// No waiting: the publisher heard every listener's ack.
		if got := b.last(); got != "revoke "+arg {
			t.Fatalf("node B's last notice right after Publish returned: %q", got)
		}
	}
	resets := b.resets.Load()
	// Cut both listeners, as a network fault or a PostgreSQL restart would.
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRow(`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'stowage-invalidations'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("terminated %d listeners (%v), want 2", n, err)
	}
	waitFor(t, "node B to reset after losing its listener", func() bool { return b.resets.Load() > resets })
	waitFor(t, "both nodes to listen again", func() bool { return a.st.Listening() == nil && b.st.Listening() == nil })
	if err := a.st.Publish(context.Background(), "revoke", "after"); err != nil {
		t.Fatal(err)
	}
	if got := b.last(); got != "revoke after" {
		t.Fatalf("after reconnecting node B heard %q", got)
	}
}
