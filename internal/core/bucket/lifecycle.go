package bucket

import (
	"strings"
	"time"
)

// LifecycleRule is one rule of a bucket's lifecycle configuration: which
// objects it covers (Prefix, Tags, size bounds) and what happens to them.
// A zero action field means the rule does not take that action.
type LifecycleRule struct {
	ID      string `json:"id"`
	Enabled bool   `json:"enabled"`
	// LegacyPrefix records a rule given with a top-level Prefix rather
	// than a Filter, so it is shown back in the form it came in.
	LegacyPrefix    bool              `json:"legacy_prefix,omitempty"`
	Prefix          string            `json:"prefix,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
	SizeGreaterThan int64             `json:"size_gt,omitempty"`
	SizeLessThan    int64             `json:"size_lt,omitempty"`

	ExpirationDays      int       `json:"expiration_days,omitempty"`
	ExpirationDate      time.Time `json:"expiration_date,omitzero"`
	ExpiredDeleteMarker bool      `json:"expired_delete_marker,omitempty"`
	NoncurrentDays      int       `json:"noncurrent_days,omitempty"`
	NewerNoncurrent     int       `json:"newer_noncurrent,omitempty"`
	AbortUploadDays     int       `json:"abort_upload_days,omitempty"`
}

// Matches reports whether the rule's filter covers an object.
func (r LifecycleRule) Matches(key string, size int64, tags map[string]string) bool {
	if !strings.HasPrefix(key, r.Prefix) {
		return false
	}
	if r.SizeGreaterThan > 0 && size <= r.SizeGreaterThan || r.SizeLessThan > 0 && size >= r.SizeLessThan {
		return false
	}
	for k, v := range r.Tags {
		if got, ok := tags[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// ExpiresAt is when the rule expires a current version modified at
// modified: Days after it, rounded up to the next midnight UTC as S3 does
// (day is the length of a day; tests shorten it), or the rule's Date. ok
// is false when the rule expires no current version.
func (r LifecycleRule) ExpiresAt(modified time.Time, day time.Duration) (time.Time, bool) {
	switch {
	case !r.Enabled:
		return time.Time{}, false
	case r.ExpirationDays > 0:
		return AfterDays(modified, r.ExpirationDays, day), true
	case !r.ExpirationDate.IsZero():
		return r.ExpirationDate, true
	}
	return time.Time{}, false
}

// AfterDays is n days after t, rounded up to the start of the next day
// (midnight UTC for real days, the next multiple of day otherwise).
func AfterDays(t time.Time, n int, day time.Duration) time.Time {
	end := t.Add(time.Duration(n) * day)
	if day == 24*time.Hour {
		mid := time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, time.UTC)
		if mid.Before(end) {
			mid = mid.AddDate(0, 0, 1)
		}
		return mid
	}
	if r := end.Truncate(day); r.Before(end) {
		return r.Add(day)
	}
	return end
}
