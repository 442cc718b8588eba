package bucket

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Event notifications (S3's PutBucketNotificationConfiguration): a bucket
// names, per rule, the events it wants announced, a key filter and the
// target (a webhook its project registered) that receives them. The
// metadata store turns each committed write or delete a rule covers into a
// delivery job in the committing transaction, so an acknowledged change is
// never without its event.

// Event names, as S3 spells them without the "s3:" that configurations
// carry. A rule's event may end in ":*" for the whole family.
const (
	EventPut      = "ObjectCreated:Put"
	EventPost     = "ObjectCreated:Post"
	EventCopy     = "ObjectCreated:Copy"
	EventComplete = "ObjectCreated:CompleteMultipartUpload"
	// EventRemoved is the family a delete announces; the store completes
	// it with ":Delete" or ":DeleteMarkerCreated" by what the delete did.
	EventRemoved = "ObjectRemoved"
	// EventExpired is the same for deletes the lifecycle rules make.
	EventExpired = "LifecycleExpiration"
)

// Suffixes of the removal families.
const (
	RemovedDelete = ":Delete"
	RemovedMarker = ":DeleteMarkerCreated"
)

// NotificationEvents are the event types a configuration may name.
var NotificationEvents = []string{
	"s3:ObjectCreated:*", "s3:" + EventPut, "s3:" + EventPost, "s3:" + EventCopy, "s3:" + EventComplete,
	"s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated",
	"s3:LifecycleExpiration:*", "s3:LifecycleExpiration:Delete", "s3:LifecycleExpiration:DeleteMarkerCreated",
}

// ValidEvent reports whether a configuration may name e.
func ValidEvent(e string) bool {
	for _, v := range NotificationEvents {
		if e == v {
			return true
		}
	}
	return false
}

// Kinds of notification rule, as the configuration's element names them
// (TopicConfiguration, QueueConfiguration, CloudFunctionConfiguration);
// each is a webhook here, reached through an ARN of its own service.
const (
	NotifyTopic    = "Topic"
	NotifyQueue    = "Queue"
	NotifyFunction = "CloudFunction"
)

// NotificationRule is one rule of a bucket's notification configuration.
type NotificationRule struct {
	ID     string   `json:"id"`
	Kind   string   `json:"kind"`
	ARN    string   `json:"arn"`
	Events []string `json:"events"` // with "s3:", as configured
	Prefix string   `json:"prefix,omitempty"`
	Suffix string   `json:"suffix,omitempty"`
}

// Wants reports whether the rule announces event (without "s3:") on key.
func (r NotificationRule) Wants(event, key string) bool {
	if !strings.HasPrefix(key, r.Prefix) || !strings.HasSuffix(key, r.Suffix) {
		return false
	}
	family, _, _ := strings.Cut(event, ":")
	for _, e := range r.Events {
		e = strings.TrimPrefix(e, "s3:")
		if e == event || e == family+":*" {
			return true
		}
	}
	return false
}

// Overlaps reports whether two rules could announce one event on one key,
// which S3 refuses: they share an event type and their filters meet.
func (r NotificationRule) Overlaps(o NotificationRule) bool {
	related := func(a, b string, has func(string, string) bool) bool { return has(a, b) || has(b, a) }
	if !related(r.Prefix, o.Prefix, strings.HasPrefix) || !related(r.Suffix, o.Suffix, strings.HasSuffix) {
		return false
	}
	for _, a := range r.Events {
		for _, b := range o.Events {
			fa, _, _ := strings.Cut(strings.TrimPrefix(a, "s3:"), ":")
			fb, _, _ := strings.Cut(strings.TrimPrefix(b, "s3:"), ":")
			if a == b || fa == fb && (strings.HasSuffix(a, ":*") || strings.HasSuffix(b, ":*")) {
				return true
			}
		}
	}
	return false
}

// WriteCause is what a change's events say about the request that made
// it. The S3 handler puts it in the context of a write or delete; the
// store reads it when it queues the events the change announces.
type WriteCause struct {
	// Event is the event name (EventPut…), or for a delete the family
	// (EventRemoved, EventExpired); "" takes the store method's default.
	Event     string
	Requester string // canonical id of the caller, "" when anonymous
	SourceIP  string
	RequestID string
}

type causeKey struct{}

// WithCause returns ctx carrying c for the store.
func WithCause(ctx context.Context, c WriteCause) context.Context {
	return context.WithValue(ctx, causeKey{}, c)
}

// CauseFrom is the cause ctx carries, with event filled in when it has
// none.
func CauseFrom(ctx context.Context, event string) WriteCause {
	c, _ := ctx.Value(causeKey{}).(WriteCause)
	if c.Event == "" {
		c.Event = event
	}
	return c
}

// EventRecord is one record of an S3 event message, as AWS sends it.
type EventRecord struct {
	EventVersion      string            `json:"eventVersion"`
	EventSource       string            `json:"eventSource"`
	AWSRegion         string            `json:"awsRegion"`
	EventTime         string            `json:"eventTime"`
	EventName         string            `json:"eventName"`
	UserIdentity      principal         `json:"userIdentity"`
	RequestParameters map[string]string `json:"requestParameters"`
	ResponseElements  map[string]string `json:"responseElements"`
	S3                eventS3           `json:"s3"`
}

type principal struct {
	PrincipalID string `json:"principalId"`
}

type eventS3 struct {
	SchemaVersion   string      `json:"s3SchemaVersion"`
	ConfigurationID string      `json:"configurationId"`
	Bucket          eventBucket `json:"bucket"`
	Object          eventObject `json:"object"`
}

type eventBucket struct {
	Name          string    `json:"name"`
	OwnerIdentity principal `json:"ownerIdentity"`
	ARN           string    `json:"arn"`
}

type eventObject struct {
	Key       string `json:"key"`
	Size      int64  `json:"size,omitempty"`
	ETag      string `json:"eTag,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	Sequencer string `json:"sequencer"`
}

// EventMessage is the body a webhook receives: one record per event.
type EventMessage struct {
	Records []EventRecord `json:"Records"`
}

// ChangeFacts are what a committed change announces: the bucket, the
// event's full name, and the version it made or removed.
type ChangeFacts struct {
	Bucket, Owner, Region string
	Event                 string // full name, without "s3:"
	Cause                 WriteCause
	Key                   string
	Size                  int64
	ETag                  string
	VersionID             string
	At                    time.Time
}

// Record renders the facts as the record rule's target receives.
func (f ChangeFacts) Record(ruleID string) EventRecord {
	req := map[string]string{"sourceIPAddress": f.Cause.SourceIP}
	resp := map[string]string{"x-amz-request-id": f.Cause.RequestID, "x-amz-id-2": f.Cause.RequestID}
	return EventRecord{
		EventVersion: "2.1", EventSource: "aws:s3", AWSRegion: f.Region,
		EventTime: f.At.UTC().Format("2006-01-02T15:04:05.000Z"), EventName: f.Event,
		UserIdentity: principal{f.Cause.Requester}, RequestParameters: req, ResponseElements: resp,
		S3: eventS3{SchemaVersion: "1.0", ConfigurationID: ruleID,
			Bucket: eventBucket{Name: f.Bucket, OwnerIdentity: principal{f.Owner}, ARN: "arn:aws:s3:::" + f.Bucket},
			Object: eventObject{Key: EventKey(f.Key), Size: f.Size, ETag: f.ETag, VersionID: f.VersionID,
				// Hex of the commit time in nanoseconds: it orders the
				// events of one key, as S3's sequencer does.
				Sequencer: strings.ToUpper(strconv.FormatUint(uint64(f.At.UnixNano()), 16))}},
	}
}

// EventKey encodes a key as S3 event messages carry it: each segment
// URL-encoded as a form value (a space is "+"), the slashes kept.
func EventKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.QueryEscape(p)
	}
	return strings.Join(parts, "/")
}

// NotifyJobKind is the kind of the job that delivers one event to one
// target; NotifyPayload is its payload.
const NotifyJobKind = "s3.notify"

// NotifyPayload names the target (by the ARN the rule gave) and carries
// the message, built when the change committed.
type NotifyPayload struct {
	ARN     string       `json:"arn"`
	Message EventMessage `json:"message"`
}
