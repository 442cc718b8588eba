package s3

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/xml"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/core/bucket"
)

// Lifecycle configuration: rules by prefix, tags and size that expire
// current versions (after days, on a date), expired delete markers and
// noncurrent versions, and abort stale multipart uploads. Transitions are
// refused: this server has one storage class. The rules are applied by the
// lifecycle job outside the request path; GET, HEAD and PUT announce a
// current version's expiry in x-amz-expiration.

const (
	maxLifecycleRules = 1000
	maxLifecycleID    = 255
)

type lifecycleXML struct {
	XMLName xml.Name           `xml:"LifecycleConfiguration"`
	Xmlns   string             `xml:"xmlns,attr,omitempty"`
	Rules   []lifecycleRuleXML `xml:"Rule"`
}

type lifecycleTagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type lifecycleFilterXML struct {
	Prefix          *string          `xml:"Prefix"`
	Tag             *lifecycleTagXML `xml:"Tag"`
	SizeGreaterThan *int64           `xml:"ObjectSizeGreaterThan"`
	SizeLessThan    *int64           `xml:"ObjectSizeLessThan"`
	And             *lifecycleAndXML `xml:"And"`
}

type lifecycleAndXML struct {
	Prefix          *string           `xml:"Prefix"`
	Tags            []lifecycleTagXML `xml:"Tag"`
	SizeGreaterThan *int64            `xml:"ObjectSizeGreaterThan"`
	SizeLessThan    *int64            `xml:"ObjectSizeLessThan"`
}

type lifecycleRuleXML struct {
	ID         string              `xml:"ID,omitempty"`
	Prefix     *string             `xml:"Prefix"`
	Filter     *lifecycleFilterXML `xml:"Filter"`
	Status     string              `xml:"Status"`
	Expiration *struct {
		Days                      int    `xml:"Days,omitempty"`
		Date                      string `xml:"Date,omitempty"`
		ExpiredObjectDeleteMarker *bool  `xml:"ExpiredObjectDeleteMarker"`
	} `xml:"Expiration"`
	Transitions           []struct{} `xml:"Transition"`
	NoncurrentTransitions []struct{} `xml:"NoncurrentVersionTransition"`
	NoncurrentExpiration  *struct {
		NoncurrentDays          int `xml:"NoncurrentDays,omitempty"`
		NewerNoncurrentVersions int `xml:"NewerNoncurrentVersions,omitempty"`
	} `xml:"NoncurrentVersionExpiration"`
	AbortIncompleteMultipartUpload *struct {
		DaysAfterInitiation int `xml:"DaysAfterInitiation"`
	} `xml:"AbortIncompleteMultipartUpload"`
}

// lifecycleRule checks one rule and reads it into the stored form.
func lifecycleRule(x lifecycleRuleXML) (bucket.LifecycleRule, error) {
	r := bucket.LifecycleRule{ID: x.ID}
	malformed := func(msg string) error { return apiErr(errMalformedXML, "%s", msg) }
	switch x.Status {
	case "Enabled":
		r.Enabled = true
	case "Disabled":
	default:
		return r, malformed("a rule's Status must be Enabled or Disabled")
	}
	if len(x.ID) > maxLifecycleID {
		return r, apiErr(errInvalidArgument, "a rule's ID may be at most %d characters", maxLifecycleID)
	}
	if x.Prefix != nil && x.Filter != nil {
		return r, malformed("a rule has either Prefix or Filter, not both")
	}
	tags := map[string]string{}
	addTag := func(t lifecycleTagXML) error {
		if _, dup := tags[t.Key]; dup || t.Key == "" {
			return apiErr(errInvalidArgument, "a rule's filter names tag %q twice or with no key", t.Key)
		}
		tags[t.Key] = t.Value
		return nil
	}
	switch {
	case x.Prefix != nil:
		r.LegacyPrefix, r.Prefix = true, *x.Prefix
	case x.Filter != nil:
		f := x.Filter
		set := 0
		for _, given := range []bool{f.Prefix != nil, f.Tag != nil, f.SizeGreaterThan != nil, f.SizeLessThan != nil, f.And != nil} {
			if given {
				set++
			}
		}
		if set > 1 {
			return r, malformed("a Filter names one condition, or several under And")
		}
		if f.Prefix != nil {
			r.Prefix = *f.Prefix
		}
		if f.Tag != nil {
			if err := addTag(*f.Tag); err != nil {
				return r, err
			}
		}
		gt, lt := f.SizeGreaterThan, f.SizeLessThan
		if a := f.And; a != nil {
			if a.Prefix != nil {
				r.Prefix = *a.Prefix
			}
			for _, t := range a.Tags {
				if err := addTag(t); err != nil {
					return r, err
				}
			}
			gt, lt = a.SizeGreaterThan, a.SizeLessThan
		}
		if gt != nil {
			r.SizeGreaterThan = *gt
		}
		if lt != nil {
			r.SizeLessThan = *lt
		}
		if r.SizeGreaterThan < 0 || r.SizeLessThan < 0 || r.SizeLessThan > 0 && r.SizeLessThan <= r.SizeGreaterThan {
			return r, apiErr(errInvalidArgument, "ObjectSizeLessThan must be greater than ObjectSizeGreaterThan")
		}
	}
	if len(tags) > 0 {
		r.Tags = tags
	}
	if len(x.Transitions) > 0 || len(x.NoncurrentTransitions) > 0 {
		return r, apiErr(errInvalidStorageClass, "transitions are not supported: this server has one storage class, STANDARD")
	}
	actions := 0
	if e := x.Expiration; e != nil {
		given := 0
		if e.Days != 0 {
			if e.Days < 0 {
				return r, apiErr(errInvalidArgument, "expiration days must be a positive integer")
			}
			r.ExpirationDays = e.Days
			given++
		}
		if e.Date != "" {
			d, err := time.Parse(time.RFC3339, e.Date)
			if err != nil || !d.Equal(d.Truncate(24*time.Hour)) {
				return r, apiErr(errInvalidArgument, "an expiration date must be midnight UTC in ISO 8601 format")
			}
			r.ExpirationDate = d.UTC()
			given++
		}
		if e.ExpiredObjectDeleteMarker != nil {
			if len(tags) > 0 {
				return r, apiErr(errInvalidArgument, "ExpiredObjectDeleteMarker cannot be used with tag filters")
			}
			r.ExpiredDeleteMarker = *e.ExpiredObjectDeleteMarker
			given++
		}
		if given != 1 {
			return r, malformed("an Expiration names one of Days, Date and ExpiredObjectDeleteMarker")
		}
		actions++
	}
	if n := x.NoncurrentExpiration; n != nil {
		if n.NoncurrentDays <= 0 || n.NewerNoncurrentVersions < 0 || n.NewerNoncurrentVersions > 100 {
			return r, apiErr(errInvalidArgument, "NoncurrentDays must be positive and NewerNoncurrentVersions from 0 to 100")
		}
		r.NoncurrentDays, r.NewerNoncurrent = n.NoncurrentDays, n.NewerNoncurrentVersions
		actions++
	}
	if a := x.AbortIncompleteMultipartUpload; a != nil {
		if a.DaysAfterInitiation <= 0 {
			return r, apiErr(errInvalidArgument, "DaysAfterInitiation must be a positive integer")
		}
		if len(tags) > 0 {
			return r, apiErr(errInvalidArgument, "AbortIncompleteMultipartUpload cannot be used with tag filters")
		}
		r.AbortUploadDays = a.DaysAfterInitiation
		actions++
	}
	if actions == 0 {
		return r, apiErr(errInvalidRequest, "at least one action needs to be specified in a rule")
	}
	return r, nil
}

func (h *Handler) putBucketLifecycle(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutLifecycleConfiguration")
	if err != nil {
		return err
	}
	var in lifecycleXML
	if err := req.readXML(&in); err != nil {
		return err
	}
	if len(in.Rules) == 0 || len(in.Rules) > maxLifecycleRules {
		return apiErr(errMalformedXML, "a lifecycle configuration holds 1 to %d rules", maxLifecycleRules)
	}
	rules := make([]bucket.LifecycleRule, 0, len(in.Rules))
	ids := map[string]bool{}
	for _, x := range in.Rules {
		r, err := lifecycleRule(x)
		if err != nil {
			return err
		}
		if r.ID == "" {
			r.ID = newRuleID()
		}
		if ids[r.ID] {
			return apiErr(errInvalidArgument, "rule ID %q is used twice", r.ID)
		}
		ids[r.ID] = true
		rules = append(rules, r)
	}
	b.Lifecycle = rules
	if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// newRuleID names a rule given without an ID, as S3 does.
func newRuleID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

func (h *Handler) getBucketLifecycle(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:GetLifecycleConfiguration")
	if err != nil {
		return err
	}
	if len(b.Lifecycle) == 0 {
		return apiErr(errNoSuchLifecycle, "the lifecycle configuration does not exist")
	}
	out := lifecycleXML{Xmlns: s3NS}
	for _, r := range b.Lifecycle {
		out.Rules = append(out.Rules, lifecycleRuleOut(r))
	}
	return writeXML(w, http.StatusOK, out)
}

// lifecycleRuleOut renders a stored rule in the form it was given.
func lifecycleRuleOut(r bucket.LifecycleRule) lifecycleRuleXML {
	x := lifecycleRuleXML{ID: r.ID, Status: "Disabled"}
	if r.Enabled {
		x.Status = "Enabled"
	}
	if r.LegacyPrefix {
		x.Prefix = &r.Prefix
	} else {
		f := &lifecycleFilterXML{}
		keys := make([]string, 0, len(r.Tags))
		for k := range r.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		conds := len(keys)
		if r.Prefix != "" {
			conds++
		}
		if r.SizeGreaterThan > 0 {
			conds++
		}
		if r.SizeLessThan > 0 {
			conds++
		}
		if conds > 1 {
			a := &lifecycleAndXML{}
			if r.Prefix != "" {
				a.Prefix = &r.Prefix
			}
			for _, k := range keys {
				a.Tags = append(a.Tags, lifecycleTagXML{k, r.Tags[k]})
			}
			if r.SizeGreaterThan > 0 {
				a.SizeGreaterThan = &r.SizeGreaterThan
			}
			if r.SizeLessThan > 0 {
				a.SizeLessThan = &r.SizeLessThan
			}
			f.And = a
		} else {
			switch {
			case len(keys) == 1:
				f.Tag = &lifecycleTagXML{keys[0], r.Tags[keys[0]]}
			case r.SizeGreaterThan > 0:
				f.SizeGreaterThan = &r.SizeGreaterThan
			case r.SizeLessThan > 0:
				f.SizeLessThan = &r.SizeLessThan
			case r.Prefix != "":
				f.Prefix = &r.Prefix
			}
		}
		x.Filter = f
	}
	if r.ExpirationDays > 0 || !r.ExpirationDate.IsZero() || r.ExpiredDeleteMarker {
		x.Expiration = &struct {
			Days                      int    `xml:"Days,omitempty"`
			Date                      string `xml:"Date,omitempty"`
			ExpiredObjectDeleteMarker *bool  `xml:"ExpiredObjectDeleteMarker"`
		}{Days: r.ExpirationDays}
		if !r.ExpirationDate.IsZero() {
			x.Expiration.Date = r.ExpirationDate.Format(time.RFC3339)
		}
		if r.ExpiredDeleteMarker {
			x.Expiration.ExpiredObjectDeleteMarker = &r.ExpiredDeleteMarker
		}
	}
	if r.NoncurrentDays > 0 {
		x.NoncurrentExpiration = &struct {
			NoncurrentDays          int `xml:"NoncurrentDays,omitempty"`
			NewerNoncurrentVersions int `xml:"NewerNoncurrentVersions,omitempty"`
		}{r.NoncurrentDays, r.NewerNoncurrent}
	}
	if r.AbortUploadDays > 0 {
		x.AbortIncompleteMultipartUpload = &struct {
			DaysAfterInitiation int `xml:"DaysAfterInitiation"`
		}{r.AbortUploadDays}
	}
	return x
}

// deleteBucketLifecycle answers 204 with or without a configuration, as
// S3 does; it is authorised as s3:PutLifecycleConfiguration.
func (h *Handler) deleteBucketLifecycle(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutLifecycleConfiguration")
	if err != nil {
		return err
	}
	if b.Lifecycle != nil {
		b.Lifecycle = nil
		if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setExpiration announces when the bucket's lifecycle rules expire the
// current version o: the earliest expiry of the enabled rules covering it.
func (h *Handler) setExpiration(w http.ResponseWriter, b bucket.Bucket, o bucket.Object) {
	var when time.Time
	var id string
	for _, r := range b.Lifecycle {
		if !r.Matches(o.Key, o.Size, o.Tags) {
			continue
		}
		if t, ok := r.ExpiresAt(o.Modified, h.o.LifecycleDay); ok && (when.IsZero() || t.Before(when)) {
			when, id = t, r.ID
		}
	}
	if !when.IsZero() {
		w.Header().Set("X-Amz-Expiration", fmt.Sprintf(`expiry-date="%s", rule-id="%s"`, when.UTC().Format(http.TimeFormat), id))
	}
}
