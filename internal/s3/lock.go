package s3

import (
	"encoding/xml"
	"net/http"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/errs"
)

// Object lock (WORM): a bucket created with it (or a versioned bucket it
// is turned on for) keeps versions that have a retention or a legal hold
// from being deleted. Writes take a retention from their headers or the
// bucket's default; GOVERNANCE retention gives way to requests that ask to
// bypass it, COMPLIANCE to none until it ends.

var (
	errInvalidBucketState     = s3Code{"InvalidBucketState", http.StatusConflict}
	errNoLockConfig           = s3Code{"ObjectLockConfigurationNotFoundError", http.StatusNotFound}
	errNoObjectLockConfig     = s3Code{"NoSuchObjectLockConfiguration", http.StatusNotFound}
	errInvalidRetentionPeriod = s3Code{"InvalidRetentionPeriod", http.StatusBadRequest}
)

// lockTime is how retain-until dates are written.
const lockTime = "2006-01-02T15:04:05.000Z"

type defaultRetention struct {
	Mode  string `xml:"Mode"`
	Days  *int   `xml:"Days"`
	Years *int   `xml:"Years"`
}

type objectLockConfiguration struct {
	XMLName           xml.Name `xml:"ObjectLockConfiguration"`
	Xmlns             string   `xml:"xmlns,attr,omitempty"`
	ObjectLockEnabled string   `xml:"ObjectLockEnabled"`
	Rule              *struct {
		DefaultRetention *defaultRetention `xml:"DefaultRetention"`
	} `xml:"Rule"`
}

type retentionDoc struct {
	XMLName         xml.Name `xml:"Retention"`
	Xmlns           string   `xml:"xmlns,attr,omitempty"`
	Mode            string   `xml:"Mode"`
	RetainUntilDate string   `xml:"RetainUntilDate"`
}

type legalHoldDoc struct {
	XMLName xml.Name `xml:"LegalHold"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Status  string   `xml:"Status"`
}

func validLockMode(m string) bool { return m == bucket.LockGovernance || m == bucket.LockCompliance }

// writeLock is the lock a new version gets: from its x-amz-object-lock-*
// headers, else the bucket's default retention.
func writeLock(r *http.Request, b bucket.Bucket, now time.Time) (bucket.Lock, error) {
	mode := r.Header.Get("X-Amz-Object-Lock-Mode")
	until := r.Header.Get("X-Amz-Object-Lock-Retain-Until-Date")
	hold := r.Header.Get("X-Amz-Object-Lock-Legal-Hold")
	if mode == "" && until == "" && hold == "" {
		return b.ObjectLock.Default(now), nil
	}
	if b.ObjectLock == nil {
		return bucket.Lock{}, apiErr(errInvalidRequest, "bucket is missing object lock configuration")
	}
	l := b.ObjectLock.Default(now)
	switch hold {
	case "":
	case "ON", "OFF":
		l.LegalHold = hold == "ON"
	default:
		return l, apiErr(errInvalidArgument, "legal hold status must be ON or OFF")
	}
	if mode == "" && until == "" {
		return l, nil
	}
	if mode == "" || until == "" {
		return l, apiErr(errInvalidArgument, "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")
	}
	if !validLockMode(mode) {
		return l, apiErr(errInvalidArgument, "unknown object lock mode %q", mode)
	}
	t, err := time.Parse(time.RFC3339, until)
	if err != nil {
		return l, apiErr(errInvalidArgument, "the retain until date must be an ISO 8601 date and time")
	}
	if !t.After(now) {
		return l, apiErr(errInvalidArgument, "the retain until date must be in the future")
	}
	l.Mode, l.Until = mode, t.UTC()
	return l, nil
}

// setLockHeaders tells a reader how the version is locked.
func setLockHeaders(w http.ResponseWriter, l bucket.Lock) {
	if l.Mode != "" {
		w.Header().Set("X-Amz-Object-Lock-Mode", l.Mode)
		w.Header().Set("X-Amz-Object-Lock-Retain-Until-Date", l.Until.UTC().Format(lockTime))
	}
	if l.LegalHold {
		w.Header().Set("X-Amz-Object-Lock-Legal-Hold", "ON")
	}
}

// bypassGovernance reports whether the request asks to lift GOVERNANCE
// retention (Handler.mayBypass decides whether it may).
func bypassGovernance(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("X-Amz-Bypass-Governance-Retention"), "true")
}

// deletable refuses the permanent deletion of a version that a legal hold
// or a retention still protects; bypass lifts GOVERNANCE.
func deletable(bypass bool, now time.Time) func(bucket.Object) error {
	return func(o bucket.Object) error {
		switch {
		case o.Lock.LegalHold:
			return apiErr(errAccessDenied, "the object version is under a legal hold")
		case o.Lock.Retained(now) && (o.Lock.Mode == bucket.LockCompliance || !bypass):
			return apiErr(errAccessDenied, "the object version is locked in %s mode until %s", o.Lock.Mode, o.Lock.Until.Format(lockTime))
		}
		return nil
	}
}

func (h *Handler) putObjectLockConfiguration(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutBucketObjectLockConfiguration")
	if err != nil {
		return err
	}
	var in objectLockConfiguration
	if err := req.readXML(&in); err != nil {
		return err
	}
	if in.ObjectLockEnabled != "Enabled" {
		return apiErr(errMalformedXML, "ObjectLockEnabled must be Enabled")
	}
	cfg := &bucket.ObjectLockConfig{}
	if in.Rule != nil {
		d := in.Rule.DefaultRetention
		if d == nil || !validLockMode(d.Mode) || (d.Days == nil) == (d.Years == nil) {
			return apiErr(errMalformedXML, "a default retention needs a mode, GOVERNANCE or COMPLIANCE, and days or years")
		}
		cfg.Mode = d.Mode
		switch {
		case d.Days != nil && (*d.Days <= 0 || *d.Days > 36500):
			return apiErr(errInvalidRetentionPeriod, "the default retention period must be 1 to 36500 days")
		case d.Years != nil && (*d.Years <= 0 || *d.Years > 100):
			return apiErr(errInvalidRetentionPeriod, "the default retention period must be 1 to 100 years")
		case d.Days != nil:
			cfg.Days = *d.Days
		default:
			cfg.Years = *d.Years
		}
	}
	if err := h.o.Meta.SetObjectLock(req.r.Context(), b.ID, *cfg); err != nil {
		return bucketState(err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// bucketState answers a refusal of the store's versioning and object
// lock rules as S3 does.
func bucketState(err error) error {
	if errs.Is(err, errs.Conflict) {
		return &apiError{s3Code: errInvalidBucketState, Msg: errs.Message(err), Err: err}
	}
	return err
}

func (h *Handler) getObjectLockConfiguration(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:GetBucketObjectLockConfiguration")
	if err != nil {
		return err
	}
	if b.ObjectLock == nil {
		return apiErr(errNoLockConfig, "object lock configuration does not exist for this bucket")
	}
	out := objectLockConfiguration{Xmlns: s3NS, ObjectLockEnabled: "Enabled"}
	if c := b.ObjectLock; c.Mode != "" {
		d := &defaultRetention{Mode: c.Mode}
		if c.Days > 0 {
			d.Days = &c.Days
		} else {
			d.Years = &c.Years
		}
		out.Rule = &struct {
			DefaultRetention *defaultRetention `xml:"DefaultRetention"`
		}{d}
	}
	return writeXML(w, http.StatusOK, out)
}

// lockedVersion is the version a retention or legal hold request is for,
// in a bucket with object lock.
func (h *Handler) lockedVersion(req *request, action string) (bucket.Bucket, bucket.Object, error) {
	b, err := h.bucketFor(req, action)
	if err != nil {
		return b, bucket.Object{}, err
	}
	if b.ObjectLock == nil {
		return b, bucket.Object{}, apiErr(errInvalidRequest, "bucket is missing object lock configuration")
	}
	o, err := h.versionAt(req, b)
	if isNotExist(err) {
		return b, o, apiErr(errNoSuchKey, "the specified key does not exist")
	}
	return b, o, err
}

func (h *Handler) putObjectRetention(w http.ResponseWriter, req *request) error {
	b, o, err := h.lockedVersion(req, "s3:PutObjectRetention")
	if err != nil {
		return err
	}
	var in retentionDoc
	if err := req.readXML(&in); err != nil {
		return err
	}
	if !validLockMode(in.Mode) {
		return apiErr(errMalformedXML, "the retention mode must be GOVERNANCE or COMPLIANCE")
	}
	until, err := time.Parse(time.RFC3339, in.RetainUntilDate)
	if err != nil {
		return apiErr(errMalformedXML, "the retain until date must be an ISO 8601 date and time")
	}
	now := h.o.Now()
	bypass, err := h.mayBypass(req, b, req.key)
	if err != nil {
		return err
	}
	if !until.After(now) {
		return apiErr(errInvalidArgument, "the retain until date must be in the future")
	}
	return h.changeLock(w, req, b, o, func(l bucket.Lock) (bucket.Lock, error) {
		// A retention in force may only grow, in the same mode; GOVERNANCE
		// gives way to a bypass, COMPLIANCE to nothing.
		if l.Retained(now) && (in.Mode != l.Mode || until.Before(l.Until)) && (l.Mode == bucket.LockCompliance || !bypass) {
			return l, apiErr(errAccessDenied, "the object version is locked in %s mode until %s", l.Mode, l.Until.Format(lockTime))
		}
		l.Mode, l.Until = in.Mode, until.UTC()
		return l, nil
	})
}

// changeLock sets version o's lock to what change makes of the lock it
// has when the change commits.
func (h *Handler) changeLock(w http.ResponseWriter, req *request, b bucket.Bucket, o bucket.Object, change func(bucket.Lock) (bucket.Lock, error)) error {
	err := h.o.Meta.UpdateLock(req.r.Context(), b.ID, req.key, o.VersionID, func(cur bucket.Object) (bucket.Lock, error) { return change(cur.Lock) })
	if err != nil {
		return err
	}
	setVersionHeader(w, b, o.VersionID)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) getObjectRetention(w http.ResponseWriter, req *request) error {
	b, o, err := h.lockedVersion(req, "s3:GetObjectRetention")
	if err != nil {
		return err
	}
	if o.Lock.Mode == "" {
		return apiErr(errNoObjectLockConfig, "the specified object does not have a retention configuration")
	}
	setVersionHeader(w, b, o.VersionID)
	return writeXML(w, http.StatusOK, retentionDoc{Xmlns: s3NS, Mode: o.Lock.Mode, RetainUntilDate: o.Lock.Until.UTC().Format(lockTime)})
}

func (h *Handler) putObjectLegalHold(w http.ResponseWriter, req *request) error {
	b, o, err := h.lockedVersion(req, "s3:PutObjectLegalHold")
	if err != nil {
		return err
	}
	var in legalHoldDoc
	if err := req.readXML(&in); err != nil {
		return err
	}
	if in.Status != "ON" && in.Status != "OFF" {
		return apiErr(errMalformedXML, "the legal hold status must be ON or OFF")
	}
	return h.changeLock(w, req, b, o, func(l bucket.Lock) (bucket.Lock, error) {
		l.LegalHold = in.Status == "ON"
		return l, nil
	})
}

func (h *Handler) getObjectLegalHold(w http.ResponseWriter, req *request) error {
	b, o, err := h.lockedVersion(req, "s3:GetObjectLegalHold")
	if err != nil {
		return err
	}
	status := "OFF"
	if o.Lock.LegalHold {
		status = "ON"
	}
	setVersionHeader(w, b, o.VersionID)
	return writeXML(w, http.StatusOK, legalHoldDoc{Xmlns: s3NS, Status: status})
}
