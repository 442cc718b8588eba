package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// notifyChannel is the PostgreSQL channel every node listens on for
// invalidations: whatever one node changed that other nodes keep in memory.
const notifyChannel = "stowage_invalidate"

// topicHot drops the hot cache (hotcache.go); the store handles it itself.
// topicAck is a listener saying it has applied the notice named by arg.
const (
	topicHot = "hot"
	topicAck = "ack"
)

// listenerApp is the application_name of every node's listening session,
// which is how a publisher counts the nodes that must acknowledge.
const listenerApp = "stowage-invalidations"

// ackWait bounds how long a change waits for every listening node to say
// it applied the invalidation. The change's caller hears of success only
// after that, so the next request on any node sees the change; a node that
// does not answer in time (it is dying, or stalled) costs this much once.
const ackWait = 2 * time.Second

// bus is the PostgreSQL half of cross-node invalidation.
type bus struct {
	dsn       string
	listening atomic.Bool
	mu        sync.Mutex
	// acks counts, per notice this node published, the listeners that
	// still have to acknowledge it; the channel closes at zero.
	acks map[string]*pendingAcks
}

type pendingAcks struct {
	left int
	done chan struct{}
}

// forget drops the hot cache here and, on PostgreSQL, on every node.
// The change it follows is committed already, so an invalidation that
// cannot be sent is not the caller's failure; the cache is then off
// (hotcache.go) wherever the listener lost its connection, and hotTTL
// bounds the rest.
func (s *Store) forget(ctx context.Context) {
	s.hot.forget()
	if s.engine == Postgres {
		_ = s.Publish(context.WithoutCancel(ctx), topicHot, "")
	}
}

// Publish tells every node listening on this database (itself included)
// topic and arg, and waits until each listening node has applied it
// (ackWait). On SQLite, where one process holds the database, it does
// nothing.
func (s *Store) Publish(ctx context.Context, topic, arg string) error {
	if s.engine != Postgres {
		return nil
	}
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	id := hex.EncodeToString(nonce)
	// A node killed a moment ago has no session left: PostgreSQL ends it
	// when the connection drops, so it is not counted.
	var listeners int
	if err := s.w.QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
		listenerApp).Scan(&listeners); err != nil {
		return fmt.Errorf("count listening nodes: %w", mapErr(err))
	}
	var done chan struct{}
	if listeners > 0 && s.bus.listening.Load() {
		done = make(chan struct{})
		s.bus.mu.Lock()
		s.bus.acks[id] = &pendingAcks{left: listeners, done: done}
		s.bus.mu.Unlock()
		defer func() {
			s.bus.mu.Lock()
			delete(s.bus.acks, id)
			s.bus.mu.Unlock()
		}()
	}
	if _, err := s.w.ExecContext(ctx, "SELECT pg_notify($1, $2)", notifyChannel, topic+" "+id+" "+arg); err != nil {
		return fmt.Errorf("notify %s: %w", topic, mapErr(err))
	}
	if done == nil {
		return nil
	}
	t := time.NewTimer(ackWait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("notify %s: not every listening node acknowledged within %s", topic, ackWait)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Listen hears other nodes' invalidations until ctx ends: it drops the hot
// cache itself and hands every other topic to handle. Whenever it starts
// listening, and whenever the connection is lost, nothing remembered can
// be trusted: it drops the hot cache and calls reset, and the hot cache
// stays off until it listens again. On SQLite it returns at once.
func (s *Store) Listen(ctx context.Context, log *slog.Logger, handle func(ctx context.Context, topic, arg string), reset func(ctx context.Context)) {
	if s.engine != Postgres {
		return
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, handle, reset)
		s.bus.listening.Store(false)
		s.hot.enable(false)
		if ctx.Err() != nil {
			return
		}
		log.Warn("lost the invalidation listener; caches are off until it is back", "err", err)
		reset(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, handle func(ctx context.Context, topic, arg string), reset func(ctx context.Context)) error {
	cfg, err := pgx.ParseConfig(s.bus.dsn)
	if err != nil {
		return fmt.Errorf("parse dsn: %w", err)
	}
	cfg.RuntimeParams["application_name"] = listenerApp
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// From here on nothing is missed; what was remembered before may be
	// stale.
	s.hot.enable(true)
	s.bus.listening.Store(true)
	reset(ctx)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		topic, rest, _ := strings.Cut(n.Payload, " ")
		id, arg, _ := strings.Cut(rest, " ")
		switch topic {
		case topicAck:
			s.bus.acked(arg)
			continue
		case topicHot:
			s.hot.forget()
		default:
			handle(ctx, topic, arg)
		}
		if _, err := conn.Exec(ctx, "SELECT pg_notify($1, $2)", notifyChannel, topicAck+" - "+id); err != nil {
			return fmt.Errorf("acknowledge: %w", err)
		}
	}
}

// acked counts one listener's acknowledgement of notice id, if this node
// published it.
func (b *bus) acked(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.acks[id]
	if !ok {
		return
	}
	if p.left--; p.left == 0 {
		close(p.done)
		delete(b.acks, id)
	}
}

// errNotListening is what a caller that needs the listener hears before it
// has connected.
var errNotListening = errors.New("not listening for invalidations")

// Listening reports whether this node hears other nodes' invalidations
// (always true on SQLite, where there are no other nodes); readiness
// includes it.
func (s *Store) Listening() error {
	if s.engine != Postgres || s.bus.listening.Load() {
		return nil
	}
	return errNotListening
}
