package s3

import (
	"context"
	"encoding/xml"
	"net"
	"net/http"

	"github.com/stowage/stowage/internal/core/bucket"
)

// Event notification configuration (PutBucketNotificationConfiguration):
// Topic, Queue and CloudFunction rules, each naming a webhook its project
// registered through the native API by ARN, the events it wants and a
// prefix/suffix key filter. The store queues each event a committed
// change announces in the committing transaction; the jobs runner
// delivers it (package webhook).

// Destinations checks the targets a configuration names: a rule of kind
// (bucket.NotifyTopic…) for a bucket of projectID may name arn only when
// it is one of that project's registered targets (notification.Service).
type Destinations interface {
	CheckDestination(ctx context.Context, projectID, kind, arn string) error
}

const maxNotificationRules = 100

type notificationXML struct {
	XMLName   xml.Name        `xml:"NotificationConfiguration"`
	Xmlns     string          `xml:"xmlns,attr,omitempty"`
	Topics    []notifyRuleXML `xml:"TopicConfiguration"`
	Queues    []notifyRuleXML `xml:"QueueConfiguration"`
	Functions []notifyRuleXML `xml:"CloudFunctionConfiguration"`
	Bridge    *struct{}       `xml:"EventBridgeConfiguration"`
}

type filterRuleXML struct {
	Name  string `xml:"Name"`
	Value string `xml:"Value"`
}

type notifyRuleXML struct {
	ID string `xml:"Id,omitempty"`
	// One of these names the target, by the element's kind.
	Topic         string   `xml:"Topic,omitempty"`
	Queue         string   `xml:"Queue,omitempty"`
	CloudFunction string   `xml:"CloudFunction,omitempty"`
	Events        []string `xml:"Event"`
	Filter        *struct {
		Rules []filterRuleXML `xml:"S3Key>FilterRule"`
	} `xml:"Filter,omitempty"`
}

func (x notifyRuleXML) arn(kind string) string {
	switch kind {
	case bucket.NotifyTopic:
		return x.Topic
	case bucket.NotifyQueue:
		return x.Queue
	}
	return x.CloudFunction
}

// notifyRule checks one rule's shape and reads it into the stored form.
func notifyRule(kind string, x notifyRuleXML) (bucket.NotificationRule, error) {
	r := bucket.NotificationRule{ID: x.ID, Kind: kind, ARN: x.arn(kind)}
	if r.ARN == "" {
		return r, apiErr(errInvalidArgument, "a %sConfiguration names its %s", kind, kind)
	}
	if len(x.ID) > maxLifecycleID {
		return r, apiErr(errInvalidArgument, "a configuration's Id may be at most %d characters", maxLifecycleID)
	}
	if len(x.Events) == 0 {
		return r, apiErr(errInvalidArgument, "a configuration names at least one Event")
	}
	seen := map[string]bool{}
	for _, e := range x.Events {
		if !bucket.ValidEvent(e) {
			return r, apiErr(errInvalidArgument, "the event %q is not supported for notifications", e)
		}
		if !seen[e] {
			r.Events = append(r.Events, e)
			seen[e] = true
		}
	}
	if x.Filter != nil {
		var prefix, suffix bool
		for _, f := range x.Filter.Rules {
			switch f.Name {
			case "prefix", "Prefix":
				if prefix {
					return r, apiErr(errInvalidArgument, "cannot specify more than one prefix rule in a filter")
				}
				prefix, r.Prefix = true, f.Value
			case "suffix", "Suffix":
				if suffix {
					return r, apiErr(errInvalidArgument, "cannot specify more than one suffix rule in a filter")
				}
				suffix, r.Suffix = true, f.Value
			default:
				return r, apiErr(errInvalidArgument, "filter rule name must be either prefix or suffix")
			}
			if len(f.Value) > bucket.MaxKeyLen {
				return r, apiErr(errInvalidArgument, "the filter rule value is too long")
			}
		}
	}
	return r, nil
}

func (h *Handler) putBucketNotification(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutBucketNotification")
	if err != nil {
		return err
	}
	var in notificationXML
	if err := req.readXML(&in); err != nil {
		return err
	}
	if h.o.Destinations == nil {
		return apiErr(errNotImplemented, "event notifications are not enabled on this server")
	}
	if in.Bridge != nil {
		return apiErr(errInvalidArgument, "only Topic, Queue and CloudFunction configurations are supported")
	}
	var rules []bucket.NotificationRule
	ids := map[string]bool{}
	for _, group := range []struct {
		kind string
		xs   []notifyRuleXML
	}{{bucket.NotifyTopic, in.Topics}, {bucket.NotifyQueue, in.Queues}, {bucket.NotifyFunction, in.Functions}} {
		for _, x := range group.xs {
			r, err := notifyRule(group.kind, x)
			if err != nil {
				return err
			}
			if r.ID == "" {
				r.ID = newRuleID()
			}
			if ids[r.ID] {
				return apiErr(errInvalidArgument, "configuration Id %q is used twice", r.ID)
			}
			ids[r.ID] = true
			rules = append(rules, r)
		}
	}
	if len(rules) > maxNotificationRules {
		return apiErr(errInvalidArgument, "a notification configuration holds at most %d configurations", maxNotificationRules)
	}
	for i, r := range rules {
		for _, o := range rules[:i] {
			if r.Overlaps(o) {
				return apiErr(errInvalidArgument, "Configurations overlap. Configurations on the same bucket cannot share a common event type.")
			}
		}
	}
	var unknown []string
	for _, r := range rules {
		err := h.o.Destinations.CheckDestination(req.r.Context(), b.ProjectID, r.Kind, r.ARN)
		if isNotExist(err) {
			unknown = append(unknown, r.ARN)
		} else if err != nil {
			return err
		}
	}
	if len(unknown) > 0 {
		return apiErr(errInvalidArgument, "Unable to validate the following destination configurations: %v", unknown)
	}
	b.Notifications = rules
	if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// getBucketNotification answers an empty configuration when none is set,
// as S3 does.
func (h *Handler) getBucketNotification(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:GetBucketNotification")
	if err != nil {
		return err
	}
	out := notificationXML{Xmlns: s3NS}
	for _, r := range b.Notifications {
		x := notifyRuleXML{ID: r.ID, Events: r.Events}
		if r.Prefix != "" || r.Suffix != "" {
			x.Filter = &struct {
				Rules []filterRuleXML `xml:"S3Key>FilterRule"`
			}{}
			if r.Prefix != "" {
				x.Filter.Rules = append(x.Filter.Rules, filterRuleXML{"Prefix", r.Prefix})
			}
			if r.Suffix != "" {
				x.Filter.Rules = append(x.Filter.Rules, filterRuleXML{"Suffix", r.Suffix})
			}
		}
		switch r.Kind {
		case bucket.NotifyTopic:
			x.Topic = r.ARN
			out.Topics = append(out.Topics, x)
		case bucket.NotifyQueue:
			x.Queue = r.ARN
			out.Queues = append(out.Queues, x)
		default:
			x.CloudFunction = r.ARN
			out.Functions = append(out.Functions, x)
		}
	}
	return writeXML(w, http.StatusOK, out)
}

// cause returns ctx telling the store which event the change it commits
// announces, and who asked.
func (req *request) cause(ctx context.Context, event string) context.Context {
	ip, _, err := net.SplitHostPort(req.r.RemoteAddr)
	if err != nil {
		ip = req.r.RemoteAddr
	}
	return bucket.WithCause(ctx, bucket.WriteCause{Event: event, Requester: req.project, SourceIP: ip, RequestID: req.id})
}
