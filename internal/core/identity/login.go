package identity

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/errs"
)

// Login limits. Attempts are counted per user (whatever spelling of the
// login named them: username or email) and per client address, in the
// database, so that every node sees the same counts.
const (
	loginWindow  = time.Minute
	maxUserFails = 5  // per user and window: guessing one account
	maxAddrFails = 30 // per client address and window: spraying many accounts
	// defaultHashWait is how long a login waits for a free hashing slot
	// before it is told to come back: long enough to ride out a burst of
	// real logins, short enough that a flood gets answers, not a queue.
	defaultHashWait = 3 * time.Second
)

// HashSlots is how many argon2id derivations may run at once for memory
// bytes set aside for them: each holds argonMemory KiB until it ends, and
// a derivation keeps one CPU busy, so more than one per CPU adds memory
// and queueing, not throughput.
func HashSlots(memory int64) int {
	n := int(memory / (argonMemory * 1024))
	return max(min(n, runtime.GOMAXPROCS(0)), 1)
}

var errBusy = errs.E(errs.Unavailable, "too many logins at once; retry shortly")

// hashGate bounds concurrent password hashing. Without it every login in
// flight holds its own argon2id memory, so a flood of logins, even for
// users that do not exist, is a flood of memory.
type hashGate struct {
	slots chan struct{}
	wait  time.Duration
}

func newHashGate(slots int, wait time.Duration) *hashGate {
	return &hashGate{slots: make(chan struct{}, slots), wait: wait}
}

// run calls f holding a slot, or fails with an Unavailable error when no
// slot frees up within the gate's wait.
func (g *hashGate) run(ctx context.Context, f func() error) error {
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
	case <-t.C:
		return errBusy
	case <-ctx.Done():
		return fmt.Errorf("wait to check a password: %w", ctx.Err())
	}
	defer func() { <-g.slots }()
	return f()
}

// hash derives a password's stored form within the gate.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	var h string
	err := s.hashes.run(ctx, func() error { h = hashPassword(pw, s.cost); return nil })
	return h, err
}

// AuthenticatePassword checks a login (username or email) and password, or a
// login and an API token in the password's place, as CloudSigma clients send.
// Password attempts are limited per user and per client address.
func (s *Service) AuthenticatePassword(ctx context.Context, login, password, remote string) (Principal, error) {
	if login == "" || len(login) > 254 || len(password) > 1024 {
		return Principal{}, unauthorized
	}
	u, err := s.store.FindUserByLogin(ctx, login)
	found := err == nil
	if err != nil && !errs.Is(err, errs.NotExist) {
		return Principal{}, fmt.Errorf("authenticate password: %w", err)
	}
	if strings.HasPrefix(password, tokenPrefix) {
		// A token is 256 random bits: there is nothing to guess, and no
		// slow hash to ration, so tokens skip the login limits.
		p, terr := s.AuthenticateToken(ctx, password)
		if terr == nil && found && p.User.ID == u.ID {
			return p, nil
		}
		if terr != nil && !errs.Is(terr, errs.Unauthorized) {
			return Principal{}, terr
		}
		return Principal{}, unauthorized
	}
	// An unknown login is limited under its own spelling; it costs the same
	// derivation as a known one, so timing tells nobody which users exist.
	key := "login:" + strings.ToLower(login)
	if found {
		key = "user:" + u.ID
	}
	ok, err := s.verify(ctx, key, remote, u.PasswordHash, password)
	if err != nil {
		return Principal{}, err
	}
	if !ok || !found || !u.Active {
		return Principal{}, unauthorized
	}
	return Principal{User: u}, nil
}

// verify checks password against encoded as one limited attempt on key
// and on the client address. The attempt is counted before the password is
// looked at, in one statement per key, so simultaneous guesses cannot all
// pass the check before any of them is counted; a right password gives its
// attempt back.
func (s *Service) verify(ctx context.Context, key, remote, encoded, password string) (bool, error) {
	var ok bool
	err := s.hashes.run(ctx, func() error {
		now := s.now().UTC()
		keys := []struct {
			key string
			max int
		}{{"addr:" + remote, maxAddrFails}, {key, maxUserFails}}
		for i, k := range keys {
			n, err := s.store.CountLoginAttempt(ctx, k.key, now, now.Add(-loginWindow))
			if err != nil {
				return fmt.Errorf("count login attempt: %w", err)
			}
			if n > k.max {
				for _, done := range keys[:i] {
					s.refund(ctx, done.key)
				}
				return errs.E(errs.RateLimited, "too many failed logins; try again later")
			}
		}
		if ok = checkPassword(encoded, password); ok {
			for _, k := range keys {
				s.refund(ctx, k.key)
			}
		}
		return nil
	})
	return ok, err
}

// refund gives back an attempt that turned out not to be a failure. When
// it cannot be recorded the attempt stays counted, which errs on the safe
// side, so there is nothing to report.
func (s *Service) refund(ctx context.Context, key string) {
	_ = s.store.RefundLoginAttempt(ctx, key)
}

// ChangePassword needs the current password, checked and limited as a
// login is, and an unbound credential: a token confined to one project must
// not take over the whole account. It ends every session of the user,
// including the caller's own if a session made the request.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next, remote string) error {
	if err := unbound(p, "change the password"); err != nil {
		return err
	}
	if err := checkPassword8(next); err != nil {
		return err
	}
	ok, err := s.verify(ctx, "user:"+p.User.ID, remote, p.User.PasswordHash, current)
	if err != nil {
		return err
	}
	if !ok {
		return errs.Field("current_password", "current password is wrong")
	}
	h, err := s.hash(ctx, next)
	if err != nil {
		return err
	}
	if err := s.store.SetPasswordHash(ctx, p.User.ID, h); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	return nil
}
