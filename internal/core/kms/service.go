package kms

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/seal"
)

// Service is the built-in key service. Viewers of a project list and show
// its keys, admins manage them; using a key (GenerateDataKey, Decrypt) is
// for the project's own S3 requests, which the S3 plane authorises.
type Service struct {
	store    Store
	identity *identity.Service
	master   Sealer
	region   string
	now      func() time.Time
}

// NewService builds the service; region goes into the keys' ARNs.
func NewService(store Store, id *identity.Service, master Sealer, region string) *Service {
	return &Service{store: store, identity: id, master: master, region: region, now: time.Now}
}

// SetClock replaces the clock (tests of the deletion window).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// ARN is a key's Amazon Resource Name, which S3 answers with in
// x-amz-server-side-encryption-aws-kms-key-id: the project id stands in
// for the account.
func (s *Service) ARN(k Key) string {
	return "arn:aws:kms:" + s.region + ":" + k.ProjectID + ":key/" + k.ID
}

// materialAAD binds sealed key material to its key, so rows cannot be
// swapped between keys or projects.
func materialAAD(projectID, id string) []byte {
	return []byte("stowage kms key material v1\x00" + projectID + "\x00" + id)
}

// contextAAD is a data key's additional authenticated data: its encryption
// context as canonical JSON (encoding/json sorts map keys).
func contextAAD(encCtx map[string]string) []byte {
	b, _ := json.Marshal(encCtx) // a map of strings always marshals
	return append([]byte("stowage kms data key v1\x00"), b...)
}

var aliasRE = regexp.MustCompile(`^[A-Za-z0-9/_-]{1,250}$`)

// CreateInput describes a new key.
type CreateInput struct {
	Alias       string // "name" or "alias/name"; optional
	Description string
}

// Create makes a key for the project (admins), enabled.
func (s *Service) Create(ctx context.Context, p identity.Principal, projectID string, in CreateInput) (Key, error) {
	if err := s.manageable(ctx, p, projectID); err != nil {
		return Key{}, err
	}
	alias := strings.TrimPrefix(in.Alias, "alias/")
	if in.Alias != "" && (!aliasRE.MatchString(alias) || strings.HasPrefix(alias, "aws/")) {
		return Key{}, errs.Field("alias", "an alias is 1-250 letters, digits, '/', '_' and '-', and does not begin with aws/")
	}
	if len(in.Description) > 8192 {
		return Key{}, errs.Field("description", "a description is at most 8192 characters")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Key{}, fmt.Errorf("kms: key material: %w", err)
	}
	k := Key{ID: identity.NewID(), ProjectID: projectID, Alias: alias, Description: in.Description, State: Enabled, Created: s.now().UTC()}
	k.Material = s.master.Seal(raw, materialAAD(projectID, k.ID))
	if err := s.store.CreateKMSKey(ctx, k); err != nil {
		if errs.Is(err, errs.Exist) {
			return Key{}, &errs.Error{Kind: errs.Exist, Field: "alias", Msg: fmt.Sprintf("alias/%s already names a key of this project", alias)}
		}
		return Key{}, fmt.Errorf("create kms key: %w", err)
	}
	k.Material = ""
	return k, nil
}

// Keys lists the project's keys (viewers).
func (s *Service) Keys(ctx context.Context, p identity.Principal, projectID string) ([]Key, error) {
	if _, err := s.identity.GetProject(ctx, p, projectID); err != nil {
		return nil, err
	}
	ks, err := s.store.ListKMSKeys(ctx, projectID)
	for i := range ks {
		ks[i].Material = ""
	}
	return ks, err
}

// Key shows one key, named by id, alias or ARN (viewers).
func (s *Service) Key(ctx context.Context, p identity.Principal, projectID, ref string) (Key, error) {
	if _, err := s.identity.GetProject(ctx, p, projectID); err != nil {
		return Key{}, err
	}
	k, err := s.resolve(ctx, projectID, ref)
	k.Material = ""
	return k, err
}

// Disable stops a key from wrapping or unwrapping data keys: what it
// protects is unreadable until it is enabled again.
func (s *Service) Disable(ctx context.Context, p identity.Principal, projectID, ref string) (Key, error) {
	return s.transition(ctx, p, projectID, ref, []string{Enabled, Disabled}, Disabled, 0)
}

// Enable makes a disabled key usable again; a key pending deletion needs
// its deletion cancelled first, as in AWS KMS.
func (s *Service) Enable(ctx context.Context, p identity.Principal, projectID, ref string) (Key, error) {
	return s.transition(ctx, p, projectID, ref, []string{Enabled, Disabled}, Enabled, 0)
}

// ScheduleDeletion makes the key unusable at once and destroys it after
// days (7-30, 0 meaning 30) unless the deletion is cancelled.
func (s *Service) ScheduleDeletion(ctx context.Context, p identity.Principal, projectID, ref string, days int) (Key, error) {
	if days == 0 {
		days = DefaultDeletionDays
	}
	if days < MinDeletionDays || days > MaxDeletionDays {
		return Key{}, errs.Field("pending_window_days", "the deletion window is %d to %d days", MinDeletionDays, MaxDeletionDays)
	}
	return s.transition(ctx, p, projectID, ref, []string{Enabled, Disabled}, PendingDeletion, days)
}

// CancelDeletion keeps a key pending deletion; it comes back disabled.
func (s *Service) CancelDeletion(ctx context.Context, p identity.Principal, projectID, ref string) (Key, error) {
	return s.transition(ctx, p, projectID, ref, []string{PendingDeletion}, Disabled, 0)
}

func (s *Service) transition(ctx context.Context, p identity.Principal, projectID, ref string, from []string, to string, days int) (Key, error) {
	if err := s.manageable(ctx, p, projectID); err != nil {
		return Key{}, err
	}
	k, err := s.resolve(ctx, projectID, ref)
	if err != nil {
		return Key{}, err
	}
	var deletion time.Time
	if to == PendingDeletion {
		deletion = s.now().UTC().AddDate(0, 0, days)
	}
	if err := s.store.SetKMSKeyState(ctx, projectID, k.ID, from, to, deletion); err != nil {
		if errs.Is(err, errs.Conflict) {
			return Key{}, errs.E(errs.Conflict, "key %s is %s; it cannot become %s", k.ID, k.State, to)
		}
		return Key{}, err
	}
	k.State, k.DeletionDate, k.Material = to, deletion, ""
	return k, nil
}

// manageable checks that p may manage the project's keys: admins only.
func (s *Service) manageable(ctx context.Context, p identity.Principal, projectID string) error {
	if _, err := s.identity.GetProject(ctx, p, projectID); err != nil {
		return err
	}
	return s.identity.RequireProjectRole(ctx, p, projectID, access.Admin)
}

// DestroyDue destroys the keys whose deletion window has ended; their data
// keys can never be opened again.
func (s *Service) DestroyDue(ctx context.Context) (int, error) {
	return s.store.DestroyKMSKeys(ctx, s.now().UTC())
}

// RunDestroyer calls DestroyDue every interval until ctx ends.
func (s *Service) RunDestroyer(ctx context.Context, every time.Duration, logf func(msg string, args ...any)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.DestroyDue(ctx); err != nil && ctx.Err() == nil {
			logf("kms key deletion", "err", fmt.Sprint(err))
		} else if n > 0 {
			logf("kms keys destroyed", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resolve finds a project key by id, "alias/name", or either as an ARN;
// an ARN of another project or region names no key here.
func (s *Service) resolve(ctx context.Context, projectID, ref string) (Key, error) {
	notFound := &errs.Error{Kind: errs.NotExist, Msg: fmt.Sprintf("Invalid keyId %s", ref), Err: ErrNotFound}
	name := ref
	if rest, ok := strings.CutPrefix(ref, "arn:aws:kms:"); ok {
		parts := strings.SplitN(rest, ":", 3)
		if len(parts) != 3 || parts[0] != s.region {
			return Key{}, notFound
		}
		if parts[1] != projectID {
			// Tenants are walls: another project's key is not this
			// project's to use, whether or not it exists.
			return Key{}, &errs.Error{Kind: errs.Permission, Msg: "the KMS key " + ref + " is not a key of this project", Err: ErrAccessDenied}
		}
		name = parts[2]
		if id, ok := strings.CutPrefix(name, "key/"); ok {
			name = id
		} else if !strings.HasPrefix(name, "alias/") {
			return Key{}, notFound
		}
	}
	var k Key
	var err error
	if alias, ok := strings.CutPrefix(name, "alias/"); ok {
		k, err = s.store.KMSKeyByAlias(ctx, projectID, alias)
	} else {
		k, err = s.store.GetKMSKey(ctx, projectID, name)
	}
	if errs.Is(err, errs.NotExist) {
		return Key{}, notFound
	}
	return k, err
}

// usable loads a key for a cryptographic operation and opens its
// material; a key that is not enabled refuses, as AWS KMS does.
func (s *Service) usable(ctx context.Context, projectID, ref string) (Key, *seal.Sealer, error) {
	k, err := s.resolve(ctx, projectID, ref)
	if err != nil {
		return Key{}, nil, err
	}
	switch k.State {
	case Enabled:
	case Disabled:
		return Key{}, nil, &errs.Error{Kind: errs.Conflict, Msg: s.ARN(k) + " is disabled.", Err: ErrDisabled}
	case PendingDeletion:
		return Key{}, nil, &errs.Error{Kind: errs.Conflict, Msg: s.ARN(k) + " is pending deletion.", Err: ErrPendingDeletion}
	default:
		return Key{}, nil, fmt.Errorf("kms: key %s has unknown state %q", k.ID, k.State)
	}
	raw, err := s.master.Open(k.Material, materialAAD(k.ProjectID, k.ID))
	if err != nil {
		return Key{}, nil, fmt.Errorf("kms: open material of key %s: %w", k.ID, err)
	}
	wrap, err := seal.New(raw)
	if err != nil {
		return Key{}, nil, err
	}
	return k, wrap, nil
}

// GenerateDataKey makes a 256-bit data key wrapped under the project's key
// keyRef (id, alias or ARN), bound to encCtx.
func (s *Service) GenerateDataKey(ctx context.Context, projectID, keyRef string, encCtx map[string]string) (DataKey, error) {
	k, wrap, err := s.usable(ctx, projectID, keyRef)
	if err != nil {
		return DataKey{}, err
	}
	dek := make([]byte, 32)
	if _, err := rand.Read(dek); err != nil {
		return DataKey{}, fmt.Errorf("kms: data key: %w", err)
	}
	return DataKey{KeyARN: s.ARN(k), Plaintext: dek, Ciphertext: wrap.Seal(dek, contextAAD(encCtx))}, nil
}

// Decrypt unwraps a data key that GenerateDataKey made under keyARN for
// the project with the same encryption context.
func (s *Service) Decrypt(ctx context.Context, projectID, keyARN, ciphertext string, encCtx map[string]string) ([]byte, error) {
	_, wrap, err := s.usable(ctx, projectID, keyARN)
	if err != nil {
		return nil, err
	}
	dek, err := wrap.Open(ciphertext, contextAAD(encCtx))
	if err != nil {
		return nil, &errs.Error{Kind: errs.Invalid, Msg: "the data key does not open with this key and encryption context",
			Err: errors.Join(ErrInvalidCiphertext, err)}
	}
	return dek, nil
}
