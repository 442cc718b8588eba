package s3

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/errs"
)

func (h *Handler) listBuckets(w http.ResponseWriter, req *request) error {
	if err := h.requireAuth(req); err != nil {
		return err
	}
	q := req.r.URL.Query()
	limit := 10000
	if v := q.Get("max-buckets"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return apiErr(errInvalidArgument, "max-buckets must be an integer from 1 to 10000")
		}
		limit = n
	}
	after := ""
	if v := q.Get("continuation-token"); v != "" {
		dec, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			return apiErr(errInvalidArgument, "the continuation token provided is incorrect")
		}
		after = string(dec)
	}
	prefix := q.Get("prefix")
	bs, err := h.o.Meta.ListBuckets(req.r.Context(), req.project)
	if err != nil {
		return err
	}
	if req.service != "" {
		// A service's key sees its service's buckets only.
		bs = slices.DeleteFunc(bs, func(b bucket.Bucket) bool { return b.ServiceID != req.service })
	}
	res := listAllMyBucketsResult{Xmlns: s3NS, Owner: owner{ID: req.project, DisplayName: req.project}, Prefix: prefix}
	res.Buckets = []bucketInfo{}
	// A project holds few buckets (quota-bound), so paging the sorted list
	// here is cheaper than another query shape.
	for _, b := range bs {
		if b.Name <= after || !strings.HasPrefix(b.Name, prefix) {
			continue
		}
		if len(res.Buckets) == limit {
			res.ContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(res.Buckets[limit-1].Name))
			break
		}
		res.Buckets = append(res.Buckets, bucketInfo{Name: b.Name, CreationDate: iso8601(b.Created)})
	}
	return writeXML(w, http.StatusOK, res)
}

// cannedACL reads x-amz-acl: the four canned ACLs that need no grant to
// a named account are supported.
func cannedACL(r *http.Request, def string) (string, error) {
	v := strings.TrimSpace(r.Header.Get("X-Amz-Acl"))
	switch {
	case v == "":
		return def, nil
	case bucket.ValidACL(v):
		return v, nil
	case v == "bucket-owner-full-control" || v == "bucket-owner-read":
		return bucket.ACLPrivate, nil // the bucket owner owns every object already
	case v == "aws-exec-read" || v == "log-delivery-write":
		return "", apiErr(errNotImplemented, "the canned ACL %s is not supported", v)
	}
	return "", apiErr(errInvalidArgument, "unknown canned ACL %q", v)
}

func (h *Handler) createBucket(w http.ResponseWriter, req *request) error {
	if err := h.requireAuth(req); err != nil {
		return err
	}
	if err := bucket.ValidName(req.bucket); err != nil {
		return apiErr(errInvalidBucketName, "the specified bucket is not valid")
	}
	acl, err := requestedACL(req.r, req.project)
	if err != nil {
		return err
	}
	ownership := req.r.Header.Get("X-Amz-Object-Ownership")
	if ownership != "" && !validOwnership(ownership) {
		return apiErr(errInvalidArgument, "invalid x-amz-object-ownership %q", ownership)
	}
	if ownership == "BucketOwnerEnforced" && acl != bucket.ACLPrivate {
		return apiErr(errBucketACLOwnership, "bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
	}
	var cfg createBucketConfiguration
	if err := req.readXML(&cfg); err != nil && !emptyXML(err) {
		return err
	}
	if lc := cfg.LocationConstraint; lc != "" && lc != h.o.Region {
		return apiErr(errInvalidLocation, "the specified location constraint %q is not valid; this endpoint serves %s", lc, h.o.Region)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	b := bucket.Bucket{ID: id.String(), Name: req.bucket, ProjectID: req.project, ServiceID: req.service, Region: h.o.Region,
		ACL: acl, Ownership: ownership, Created: h.o.Now().UTC()}
	switch v := strings.ToLower(req.r.Header.Get("X-Amz-Bucket-Object-Lock-Enabled")); v {
	case "true":
		// Object lock needs versions to protect.
		b.Versioning, b.ObjectLock = bucket.VersioningEnabled, &bucket.ObjectLockConfig{}
	case "", "false":
	default:
		return apiErr(errInvalidArgument, "x-amz-bucket-object-lock-enabled must be true or false")
	}
	err = h.o.Meta.CreateBucket(req.r.Context(), b)
	if errs.Is(err, errs.Exist) {
		existing, gerr := h.o.Meta.BucketConfig(req.r.Context(), req.bucket)
		if gerr == nil && existing.ProjectID == req.project {
			// As RGW and S3's us-east-1 do, and s3-tests expects: the
			// owner's repeated create succeeds and changes nothing, unless
			// it asks for another ACL than the bucket has.
			if existing.ACL != acl || existing.ServiceID != req.service {
				return apiErr(errBucketAlreadyExists, "the bucket exists with another ACL than the one requested")
			}
			w.Header().Set("Location", "/"+existing.Name)
			w.WriteHeader(http.StatusOK)
			return nil
		}
		return apiErr(errBucketAlreadyExists, "the requested bucket name is not available; the bucket namespace is shared by all users of the system")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/"+b.Name)
	w.WriteHeader(http.StatusOK)
	return nil
}

// emptyXML reports a readXML failure caused only by an empty body.
func emptyXML(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Code == errMalformedXML.Code && errors.Is(ae.Err, io.EOF)
}

func (h *Handler) headBucket(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, actList)
	if err != nil {
		return err
	}
	w.Header().Set("X-Amz-Bucket-Region", b.Region)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) deleteBucket(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:DeleteBucket")
	if err != nil {
		return err
	}
	parts, err := h.o.Meta.DeleteBucketAbortUploads(req.r.Context(), b.ID, h.o.Now())
	if errs.Is(err, errs.Conflict) {
		return apiErr(errBucketNotEmpty, "the bucket you tried to delete is not empty")
	}
	if err != nil {
		return err
	}
	for _, id := range parts {
		h.dropBlob(req, id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) getBucketLocation(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:GetBucketLocation")
	if err != nil {
		return err
	}
	return writeXML(w, http.StatusOK, locationConstraint{Xmlns: s3NS, Value: b.Region})
}

func (h *Handler) getBucketACL(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:GetBucketAcl")
	if err != nil {
		return err
	}
	return writeXML(w, http.StatusOK, aclDocument(b.ProjectID, b.ACL))
}

func (h *Handler) putBucketACL(w http.ResponseWriter, req *request) error {
	b, err := h.loadBucket(req)
	if err != nil {
		return err
	}
	// A bucket whose ownership controls disable ACLs says so to whoever
	// asks, before deciding whether they may (as S3 does).
	acl, err := h.requestACL(req, b.ProjectID)
	if err != nil {
		return err
	}
	if err := checkACL(b, req.r, acl, true); err != nil {
		return err
	}
	if err := h.authorize(req, b, "s3:PutBucketAcl", "", nil); err != nil {
		return err
	}
	b.ACL = acl
	if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

const maxPolicy = 20 << 10

func (h *Handler) putBucketPolicy(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutBucketPolicy")
	if err != nil {
		return err
	}
	body, err := req.body()
	if err != nil {
		return err
	}
	doc, err := io.ReadAll(io.LimitReader(body, maxPolicy+1))
	if err != nil {
		return err
	}
	if len(doc) > maxPolicy {
		return apiErr(errMalformedPolicy, "policies must be at most 20 KB")
	}
	p, err := parsePolicy(string(doc))
	if err != nil {
		return apiErr(errMalformedPolicy, "the policy is not valid: %v", err)
	}
	for _, st := range p.Statement {
		for _, r := range st.Resource {
			// The bucket or its objects, named or matched by a pattern
			// ("arn:aws:s3:::*/*" too, as S3 takes it): a policy applies to
			// its own bucket only, however wide its patterns.
			rest, ok := strings.CutPrefix(r, "arn:aws:s3:::")
			if name, _, _ := strings.Cut(rest, "/"); !ok || !wildcard(name, b.Name) {
				return apiErr(errMalformedPolicy, "policy has invalid resource")
			}
		}
	}
	if b.AccessBlock != nil && b.AccessBlock.BlockPublicPolicy && p.public() {
		return apiErr(errAccessDenied, "access denied: public policies are blocked on this bucket")
	}
	b.Policy = string(doc)
	if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) getBucketPolicy(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:GetBucketPolicy")
	if err != nil {
		return err
	}
	if b.Policy == "" {
		return apiErr(errNoSuchBucketPolicy, "the bucket policy does not exist")
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = io.WriteString(w, b.Policy)
	return err
}

func (h *Handler) deleteBucketPolicy(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:DeleteBucketPolicy")
	if err != nil {
		return err
	}
	b.Policy = ""
	if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) getBucketPolicyStatus(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:GetBucketPolicyStatus")
	if err != nil {
		return err
	}
	// Public through the policy, or through an ACL's group grants that the
	// bucket's controls leave in force.
	public := bucket.PublicACL(b.ACL) && !b.ACLsDisabled() && !b.IgnoresACLs()
	if p, err := parsePolicy(b.Policy); err == nil {
		public = public || p.public()
	}
	return writeXML(w, http.StatusOK, policyStatus{Xmlns: s3NS, IsPublic: public})
}

func (h *Handler) getBucketVersioning(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:GetBucketVersioning")
	if err != nil {
		return err
	}
	return writeXML(w, http.StatusOK, versioningConfiguration{Xmlns: s3NS, Status: b.Versioning})
}

// putBucketVersioning enables or suspends versioning; a bucket once
// versioned never goes back to unversioned, as in S3.
func (h *Handler) putBucketVersioning(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutBucketVersioning")
	if err != nil {
		return err
	}
	var v versioningConfiguration
	if err := req.readXML(&v); err != nil {
		return err
	}
	if v.Status != bucket.VersioningEnabled && v.Status != bucket.VersioningSuspended {
		return apiErr(errIllegalVersioning, "the versioning configuration specified in the request is invalid")
	}
	if err := h.o.Meta.SetVersioning(req.r.Context(), b.ID, v.Status); err != nil {
		return bucketState(err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
