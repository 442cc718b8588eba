package s3

import (
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/stowage/stowage/internal/core/bucket"
)

// This file holds the bucket controls that restrain ACLs and policies:
// PublicAccessBlock and ObjectOwnership.

var (
	errNoAccessBlock      = s3Code{"NoSuchPublicAccessBlockConfiguration", http.StatusNotFound}
	errNoOwnership        = s3Code{"OwnershipControlsNotFoundError", http.StatusNotFound}
	errACLNotSupported    = s3Code{"AccessControlListNotSupported", http.StatusBadRequest}
	errBucketACLOwnership = s3Code{"InvalidBucketAclWithObjectOwnership", http.StatusBadRequest}
)

type publicAccessBlockConfiguration struct {
	XMLName               xml.Name `xml:"PublicAccessBlockConfiguration"`
	Xmlns                 string   `xml:"xmlns,attr,omitempty"`
	BlockPublicAcls       bool     `xml:"BlockPublicAcls"`
	IgnorePublicAcls      bool     `xml:"IgnorePublicAcls"`
	BlockPublicPolicy     bool     `xml:"BlockPublicPolicy"`
	RestrictPublicBuckets bool     `xml:"RestrictPublicBuckets"`
}

type ownershipControls struct {
	XMLName xml.Name `xml:"OwnershipControls"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Rules   []struct {
		ObjectOwnership string `xml:"ObjectOwnership"`
	} `xml:"Rule"`
}

func validOwnership(v string) bool {
	return v == "BucketOwnerEnforced" || v == "BucketOwnerPreferred" || v == "ObjectWriter"
}

// checkACL applies the bucket's controls to an ACL a request asks for:
// with BucketOwnerEnforced only the owner's own full control, which it
// has anyway, may be asked for (bucket-owner-full-control, or a body
// granting nothing else), as in S3; a public access block's
// BlockPublicAcls refuses grants to groups.
func checkACL(b bucket.Bucket, r *http.Request, acl string, requested bool) error {
	if !requested {
		return nil
	}
	if canned := strings.TrimSpace(r.Header.Get("X-Amz-Acl")); b.ACLsDisabled() &&
		(acl != bucket.ACLPrivate || canned != "bucket-owner-full-control" && (canned != "" || aclRequested(r))) {
		return apiErr(errACLNotSupported, "the bucket does not allow ACLs")
	}
	if b.AccessBlock != nil && b.AccessBlock.BlockPublicAcls && bucket.PublicACL(acl) {
		return apiErr(errAccessDenied, "access denied: public ACLs are blocked on this bucket")
	}
	return nil
}

func (h *Handler) getPublicAccessBlock(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:GetBucketPublicAccessBlock")
	if err != nil {
		return err
	}
	if b.AccessBlock == nil {
		return apiErr(errNoAccessBlock, "the public access block configuration was not found")
	}
	a := b.AccessBlock
	return writeXML(w, http.StatusOK, publicAccessBlockConfiguration{Xmlns: s3NS, BlockPublicAcls: a.BlockPublicAcls,
		IgnorePublicAcls: a.IgnorePublicAcls, BlockPublicPolicy: a.BlockPublicPolicy, RestrictPublicBuckets: a.RestrictPublicBuckets})
}

func (h *Handler) putPublicAccessBlock(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutBucketPublicAccessBlock")
	if err != nil {
		return err
	}
	var in publicAccessBlockConfiguration
	if err := req.readXML(&in); err != nil {
		return err
	}
	b.AccessBlock = &bucket.AccessBlock{BlockPublicAcls: in.BlockPublicAcls, IgnorePublicAcls: in.IgnorePublicAcls,
		BlockPublicPolicy: in.BlockPublicPolicy, RestrictPublicBuckets: in.RestrictPublicBuckets}
	if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) deletePublicAccessBlock(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutBucketPublicAccessBlock")
	if err != nil {
		return err
	}
	b.AccessBlock = nil
	if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) getOwnershipControls(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:GetBucketOwnershipControls")
	if err != nil {
		return err
	}
	if b.Ownership == "" {
		return apiErr(errNoOwnership, "the bucket ownership controls were not found")
	}
	out := ownershipControls{Xmlns: s3NS}
	out.Rules = append(out.Rules, struct {
		ObjectOwnership string `xml:"ObjectOwnership"`
	}{b.Ownership})
	return writeXML(w, http.StatusOK, out)
}

func (h *Handler) putOwnershipControls(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutBucketOwnershipControls")
	if err != nil {
		return err
	}
	var in ownershipControls
	if err := req.readXML(&in); err != nil {
		return err
	}
	if len(in.Rules) != 1 || !validOwnership(in.Rules[0].ObjectOwnership) {
		return apiErr(errMalformedXML, "ownership controls need exactly one valid ObjectOwnership rule")
	}
	b.Ownership = in.Rules[0].ObjectOwnership
	if b.ACLsDisabled() && b.ACL != bucket.ACLPrivate {
		// As S3: the bucket's own grants would be voided unseen.
		return apiErr(errBucketACLOwnership, "bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
	}
	if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) deleteOwnershipControls(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutBucketOwnershipControls")
	if err != nil {
		return err
	}
	b.Ownership = ""
	if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
