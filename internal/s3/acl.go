package s3

import (
	"cmp"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/stowage/stowage/internal/core/bucket"
)

// ACLs: canned (x-amz-acl) or grants, from x-amz-grant-* headers or an
// AccessControlPolicy body, to projects by canonical id (a project is
// the account here) and to the AllUsers and AuthenticatedUsers groups.
// authz.go enforces them; the owner's FULL_CONTROL is implied.

const (
	allUsersURI  = "http://acs.amazonaws.com/groups/global/AllUsers"
	authUsersURI = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
)

// grantHeaders maps each x-amz-grant-* header to the permission it gives.
var grantHeaders = map[string]string{
	"X-Amz-Grant-Read": bucket.PermRead, "X-Amz-Grant-Write": bucket.PermWrite,
	"X-Amz-Grant-Read-Acp": bucket.PermReadACP, "X-Amz-Grant-Write-Acp": bucket.PermWriteACP,
	"X-Amz-Grant-Full-Control": bucket.PermFullControl,
}

// aclRequested reports whether a request asks for an ACL in its headers.
func aclRequested(r *http.Request) bool {
	if r.Header.Get("X-Amz-Acl") != "" {
		return true
	}
	for h := range grantHeaders {
		if r.Header.Get(h) != "" {
			return true
		}
	}
	return false
}

// requestedACL reads the ACL a request's headers ask for, private when
// none: x-amz-acl or the x-amz-grant-* headers, not both.
func requestedACL(r *http.Request, ownerID string) (string, error) {
	var gs []bucket.Grant
	any := false
	for h, perm := range grantHeaders {
		v := strings.TrimSpace(r.Header.Get(h))
		if v == "" {
			continue
		}
		any = true
		for _, item := range strings.Split(v, ",") {
			kind, val, ok := strings.Cut(strings.TrimSpace(item), "=")
			if !ok {
				return "", apiErr(errInvalidArgument, "%s must list type=\"value\" grantees", strings.ToLower(h))
			}
			g, err := grantTo(strings.ToLower(strings.TrimSpace(kind)), strings.Trim(strings.TrimSpace(val), `"`), perm, ownerID)
			if err != nil {
				return "", err
			}
			if g != nil {
				gs = append(gs, *g)
			}
		}
	}
	if !any {
		return cannedACL(r, bucket.ACLPrivate)
	}
	if r.Header.Get("X-Amz-Acl") != "" {
		return "", apiErr(errInvalidRequest, "specifying both canned ACLs and header grants is not allowed")
	}
	return bucket.EncodeACL(gs), nil
}

// grantTo reads one grantee: kind is "id", "uri" or "emailaddress". The
// owner's own grants are implied and come back nil.
func grantTo(kind, value, perm, ownerID string) (*bucket.Grant, error) {
	switch kind {
	case "id":
		if value == ownerID {
			return nil, nil
		}
		if _, err := uuid.Parse(value); err != nil {
			return nil, apiErr(errInvalidArgument, "invalid id %q: a grantee is named by its project's id", value)
		}
		return &bucket.Grant{Grantee: value, Permission: perm}, nil
	case "uri":
		switch value {
		case allUsersURI:
			return &bucket.Grant{Grantee: bucket.GroupAllUsers, Permission: perm}, nil
		case authUsersURI:
			return &bucket.Grant{Grantee: bucket.GroupAuthenticated, Permission: perm}, nil
		}
		return nil, apiErr(errInvalidArgument, "invalid group uri %q", value)
	case "emailaddress":
		return nil, apiErr(errUnresolvableEmail, "the email address you provided does not match any account on record")
	}
	return nil, apiErr(errInvalidArgument, "unknown grantee type %q", kind)
}

// requestACL reads an ACL from the headers or, when they ask for none, an
// AccessControlPolicy body.
func (h *Handler) requestACL(req *request, ownerID string) (string, error) {
	if aclRequested(req.r) {
		return requestedACL(req.r, ownerID)
	}
	var in aclIn
	if err := req.readXML(&in); err != nil {
		if emptyXML(err) {
			return "", apiErr(errMalformedACL, "the XML you provided was not well-formed or did not validate against our published schema")
		}
		return "", err
	}
	if len(in.Grants) == 0 {
		return bucket.ACLNoGrants, nil
	}
	var gs []bucket.Grant
	for _, g := range in.Grants {
		if !bucket.ValidPermission(g.Permission) {
			return "", apiErr(errMalformedACL, "unknown permission %q", g.Permission)
		}
		var kind, value string
		switch {
		case g.Grantee.URI != "":
			kind, value = "uri", g.Grantee.URI
		case g.Grantee.ID != "":
			kind, value = "id", g.Grantee.ID
		case g.Grantee.Email != "":
			kind, value = "emailaddress", g.Grantee.Email
		default:
			return "", apiErr(errMalformedACL, "a grant names no grantee")
		}
		gr, err := grantTo(kind, value, g.Permission, ownerID)
		if err != nil {
			return "", err
		}
		if gr != nil {
			gs = append(gs, *gr)
		}
	}
	return bucket.EncodeACL(gs), nil
}

// aclDocument renders an ACL as the grants S3 shows: group grants first,
// then those to other projects, the owner's FULL_CONTROL last, the order
// S3 clients' tests compare in.
func aclDocument(projectID, acl string) accessControlPolicy {
	const xsi = "http://www.w3.org/2001/XMLSchema-instance"
	p := accessControlPolicy{Xmlns: s3NS, Owner: owner{ID: projectID, DisplayName: projectID}}
	var users []grant
	for _, g := range bucket.Grants(acl) {
		switch g.Grantee {
		case bucket.GroupAllUsers:
			p.Grants = append(p.Grants, grant{Grantee: grantee{XMLNS: xsi, Type: "Group", URI: allUsersURI}, Permission: g.Permission})
		case bucket.GroupAuthenticated:
			p.Grants = append(p.Grants, grant{Grantee: grantee{XMLNS: xsi, Type: "Group", URI: authUsersURI}, Permission: g.Permission})
		default:
			users = append(users, grant{Grantee: grantee{XMLNS: xsi, Type: "CanonicalUser", ID: g.Grantee, DisplayName: g.Grantee}, Permission: g.Permission})
		}
	}
	p.Grants = append(p.Grants, users...)
	if acl == bucket.ACLNoGrants {
		return p
	}
	p.Grants = append(p.Grants, grant{Grantee: grantee{XMLNS: xsi, Type: "CanonicalUser", ID: projectID, DisplayName: projectID}, Permission: "FULL_CONTROL"})
	return p
}

// objectACL is the stored ACL of an object req writes into b, owner
// included, by the bucket's ObjectOwnership as S3 decides it: with
// BucketOwnerEnforced the bucket owner owns every object; with
// BucketOwnerPreferred it owns those written with
// bucket-owner-full-control and the writer the others; with ObjectWriter,
// or no ownership controls (S3 before them, and RGW), the project that
// writes an object owns it, and bucket-owner-read or -full-control grant
// the bucket owner that much of it. Anonymous writes belong to the bucket
// owner. requested is whether the request asked for an ACL.
func objectACL(r *http.Request, b bucket.Bucket, writer string, requested bool) (string, error) {
	canned := strings.TrimSpace(r.Header.Get("X-Amz-Acl"))
	if writer == b.ProjectID || b.ACLsDisabled() || b.Ownership == "BucketOwnerPreferred" && canned == "bucket-owner-full-control" {
		writer = ""
	}
	owner := cmp.Or(writer, b.ProjectID)
	acl, err := requestedACL(r, owner)
	if err != nil {
		return "", err
	}
	if err := checkACL(b, r, acl, requested); err != nil {
		return "", err
	}
	if writer == "" {
		return acl, nil
	}
	gs := bucket.Grants(acl)
	switch canned {
	case "bucket-owner-read":
		gs = append(gs, bucket.Grant{Grantee: b.ProjectID, Permission: bucket.PermRead})
	case "bucket-owner-full-control":
		gs = append(gs, bucket.Grant{Grantee: b.ProjectID, Permission: bucket.PermFullControl})
	}
	return bucket.OwnedACL(writer, gs), nil
}

// objectOwner is the project that owns an object with acl in b: the
// writer recorded in its ACL, or the bucket's owner (always, when the
// bucket's ownership controls enforce it).
func objectOwner(b bucket.Bucket, acl string) string {
	if w := bucket.ACLOwner(acl); w != "" && !b.ACLsDisabled() {
		return w
	}
	return b.ProjectID
}
