// Package notification owns the targets of S3 event notifications: the
// webhooks a project registers (a name, a URL the operator's policy
// allows, a secret shown once and sealed at rest) and the ARNs bucket
// configurations name them by. Which changes announce which events is the
// bucket package's and the metadata store's business; package webhook
// delivers the messages they queued.
package notification

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/errs"
)

// Target is a registered webhook.
type Target struct {
	ID           string
	ProjectID    string
	Name         string
	URL          string
	SecretSealed string
	CreatedBy    string
	Created      time.Time
}

// Store is what the package needs from persistence. A missing target is
// errs.NotExist; a name the project already uses is errs.Exist.
type Store interface {
	CreateNotificationTarget(ctx context.Context, t Target) error
	ListNotificationTargets(ctx context.Context, projectID string) ([]Target, error)
	NotificationTarget(ctx context.Context, projectID, name string) (Target, error)
	DeleteNotificationTarget(ctx context.Context, projectID, name string) error
}

// Sealer encrypts target secrets at rest (seal.Sealer).
type Sealer interface {
	Seal(plaintext, aad []byte) string
	Open(sealed string, aad []byte) ([]byte, error)
}

// Services an ARN may name, one per kind of configuration element: the
// target is the same webhook whichever kind of rule names it.
var arnServices = map[string]string{"sns": bucket.NotifyTopic, "sqs": bucket.NotifyQueue, "lambda": bucket.NotifyFunction}

// ARN is the name a bucket configuration gives a target: its
// TopicConfiguration form (sns); QueueConfiguration takes "sqs" and
// CloudFunctionConfiguration "lambda" in that place.
func ARN(region, projectID, name string) string {
	return "arn:stowage:sns:" + region + ":" + projectID + ":" + name
}

// ParsedARN is what an ARN names.
type ParsedARN struct {
	Kind, Region, ProjectID, Name string
}

// ParseARN reads arn:stowage:{sns|sqs|lambda}:<region>:<project>:<name>.
func ParseARN(arn string) (ParsedARN, bool) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != "stowage" {
		return ParsedARN{}, false
	}
	kind, ok := arnServices[parts[2]]
	if !ok || parts[3] == "" || parts[4] == "" || !nameRE.MatchString(parts[5]) {
		return ParsedARN{}, false
	}
	return ParsedARN{Kind: kind, Region: parts[3], ProjectID: parts[4], Name: parts[5]}, true
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Destinations is the operator's say on where webhooks may go
// (webhook.Policy): CheckURL refuses a URL they may not reach.
type Destinations interface {
	CheckURL(ctx context.Context, url string) error
}

// Service manages targets.
type Service struct {
	store    Store
	identity *identity.Service
	sealer   Sealer
	allowed  Destinations
	region   string
	now      func() time.Time
}

// NewService builds the service.
func NewService(store Store, id *identity.Service, sealer Sealer, allowed Destinations, region string) *Service {
	return &Service{store: store, identity: id, sealer: sealer, allowed: allowed, region: region, now: time.Now}
}

// Region is the region ARNs of this node name.
func (s *Service) Region() string { return s.region }

// Create registers a webhook for a project (members and above) and
// returns it with its secret, which is shown this once.
func (s *Service) Create(ctx context.Context, p identity.Principal, projectID, name, url string) (Target, string, error) {
	if err := s.writable(ctx, p, projectID); err != nil {
		return Target{}, "", err
	}
	if !nameRE.MatchString(name) {
		return Target{}, "", errs.Field("name", "a target name is 1 to 64 letters, digits, hyphens and underscores")
	}
	if len(url) > 2048 {
		return Target{}, "", errs.Field("url", "the URL may be at most 2048 bytes")
	}
	if err := s.allowed.CheckURL(ctx, url); err != nil {
		return Target{}, "", errs.Field("url", "%s", err.Error())
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	t := Target{ID: uuid.Must(uuid.NewV7()).String(), ProjectID: projectID, Name: name, URL: url, CreatedBy: p.User.ID, Created: s.now().UTC()}
	t.SecretSealed = s.sealer.Seal([]byte(secret), []byte(t.ID))
	if err := s.store.CreateNotificationTarget(ctx, t); err != nil {
		if errs.Is(err, errs.Exist) {
			return Target{}, "", errs.Field("name", "the project already has a target named %q", name)
		}
		return Target{}, "", fmt.Errorf("create notification target: %w", err)
	}
	return t, secret, nil
}

func (s *Service) writable(ctx context.Context, p identity.Principal, projectID string) error {
	if _, err := s.identity.GetProject(ctx, p, projectID); err != nil {
		return err
	}
	return s.identity.RequireProjectRole(ctx, p, projectID, access.Member)
}

// List shows a project's targets (without secrets) to whoever sees it.
func (s *Service) List(ctx context.Context, p identity.Principal, projectID string) ([]Target, error) {
	if _, err := s.identity.GetProject(ctx, p, projectID); err != nil {
		return nil, err
	}
	return s.store.ListNotificationTargets(ctx, projectID)
}

// Delete removes a target (members and above); events queued for it fail
// at their next attempt, and rules naming it deliver nothing.
func (s *Service) Delete(ctx context.Context, p identity.Principal, projectID, name string) error {
	if err := s.writable(ctx, p, projectID); err != nil {
		return err
	}
	return s.store.DeleteNotificationTarget(ctx, projectID, name)
}

// CheckDestination is the S3 configuration's check of a rule's ARN for a
// bucket of projectID: well formed, of the kind the element needs, in
// this region and project, and registered. Another project's target is
// as unknown as a missing one.
func (s *Service) CheckDestination(ctx context.Context, projectID, kind, arn string) error {
	a, ok := ParseARN(arn)
	if !ok || a.Kind != kind || a.Region != s.region || a.ProjectID != projectID {
		return errs.E(errs.NotExist, "no such destination")
	}
	_, err := s.store.NotificationTarget(ctx, projectID, a.Name)
	return err
}

// Resolve is the target an event queued for projectID under arn goes to,
// with its secret, for the delivery job; a target since deleted is
// errs.NotExist.
func (s *Service) Resolve(ctx context.Context, projectID, arn string) (Target, []byte, error) {
	a, ok := ParseARN(arn)
	if !ok || a.ProjectID != projectID {
		return Target{}, nil, errs.E(errs.NotExist, "notification target %q is not this project's", arn)
	}
	t, err := s.store.NotificationTarget(ctx, projectID, a.Name)
	if err != nil {
		return Target{}, nil, err
	}
	secret, err := s.sealer.Open(t.SecretSealed, []byte(t.ID))
	if err != nil {
		return Target{}, nil, fmt.Errorf("open the secret of target %s: %w", t.Name, err)
	}
	return t, secret, nil
}
