package bucket

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
)

// An ACL is kept as a string: one of the canned ACLs above, or, when it
// grants more than a canned ACL can say, its grants as a JSON list (which
// starts with "["). The owner's FULL_CONTROL is implied and never listed.
// An object that another project than the bucket's wrote, and owns (S3's
// ObjectWriter ownership), keeps its owner with its grants as a JSON
// object, {"owner": project, "grants": [...]}: no other column is needed,
// and the ACL travels with the object through versions and uploads.

// ACLNoGrants is an ACL that grants nothing and does not list the owner's
// own full control either: what an AccessControlPolicy with no grants
// sets. The owner keeps its rights, as S3's owners keep theirs to the ACL.
const ACLNoGrants = "[]"

// Grantees that are groups rather than projects.
const (
	GroupAllUsers      = "AllUsers"           // everyone, signed or not
	GroupAuthenticated = "AuthenticatedUsers" // every signed caller
)

// ACL permissions, as S3 names them.
const (
	PermRead        = "READ"
	PermWrite       = "WRITE"
	PermReadACP     = "READ_ACP"
	PermWriteACP    = "WRITE_ACP"
	PermFullControl = "FULL_CONTROL"
)

// ValidPermission reports whether p is an S3 ACL permission.
func ValidPermission(p string) bool {
	switch p {
	case PermRead, PermWrite, PermReadACP, PermWriteACP, PermFullControl:
		return true
	}
	return false
}

// Grant gives a grantee (a project id, GroupAllUsers or
// GroupAuthenticated) one permission.
type Grant struct {
	Grantee    string `json:"grantee"`
	Permission string `json:"permission"`
}

// Public reports whether the grant reaches callers no one named.
func (g Grant) Public() bool { return g.Grantee == GroupAllUsers || g.Grantee == GroupAuthenticated }

// cannedGrants are the grants each canned ACL stands for.
var cannedGrants = map[string][]Grant{
	ACLPrivate:           nil,
	ACLPublicRead:        {{GroupAllUsers, PermRead}},
	ACLPublicReadWrite:   {{GroupAllUsers, PermRead}, {GroupAllUsers, PermWrite}},
	ACLAuthenticatedRead: {{GroupAuthenticated, PermRead}},
}

// Grants lists what acl grants besides the owner's full control; an ACL
// it cannot read grants nothing.
func Grants(acl string) []Grant {
	if acl == "" {
		return nil
	}
	if g, ok := cannedGrants[acl]; ok {
		return g
	}
	if strings.HasPrefix(acl, "{") {
		var o ownedACL
		if json.Unmarshal([]byte(acl), &o) != nil {
			return nil
		}
		return o.Grants
	}
	var gs []Grant
	if !strings.HasPrefix(acl, "[") || json.Unmarshal([]byte(acl), &gs) != nil {
		return nil
	}
	return gs
}

// EncodeACL is the stored form of grants: the canned ACL they equal, in
// the order cannedGrants lists them, or their JSON.
func EncodeACL(gs []Grant) string {
	gs = slices.Clone(gs)
	slices.SortFunc(gs, func(a, b Grant) int {
		return cmp.Or(strings.Compare(a.Grantee, b.Grantee), strings.Compare(a.Permission, b.Permission))
	})
	gs = slices.Compact(gs)
	for name, c := range cannedGrants {
		if slices.Equal(c, gs) {
			return name
		}
	}
	out, _ := json.Marshal(gs) // strings always marshal
	return string(out)
}

type ownedACL struct {
	Owner  string  `json:"owner"`
	Grants []Grant `json:"grants,omitempty"`
}

// OwnedACL is the stored form of an object ACL whose object owner is not
// the bucket's: owner, a project, with grants besides its own full
// control.
func OwnedACL(owner string, gs []Grant) string {
	gs = Grants(EncodeACL(gs)) // sorted and without repeats
	if len(gs) == 0 {
		gs = nil
	}
	out, _ := json.Marshal(ownedACL{Owner: owner, Grants: gs}) // strings always marshal
	return string(out)
}

// ACLOwner is the project that owns an object with acl when that is not
// the bucket's owner, "" when it is.
func ACLOwner(acl string) string {
	if !strings.HasPrefix(acl, "{") {
		return ""
	}
	var o ownedACL
	if json.Unmarshal([]byte(acl), &o) != nil {
		return ""
	}
	return o.Owner
}

// PublicACL reports whether acl grants anything to a group.
func PublicACL(acl string) bool {
	for _, g := range Grants(acl) {
		if g.Public() {
			return true
		}
	}
	return false
}

// ACLAllows reports whether acl gives perm to a caller: project is the
// project a grant may name ("" for none), authenticated whether the caller
// signed. A grant gives its permission, or every one for FULL_CONTROL;
// with ignorePublic (IgnorePublicAcls) group grants count for nothing.
func ACLAllows(acl, project string, authenticated bool, perm string, ignorePublic bool) bool {
	for _, g := range Grants(acl) {
		if g.Permission != perm && g.Permission != PermFullControl {
			continue
		}
		switch {
		case g.Public() && ignorePublic:
		case g.Grantee == GroupAllUsers:
			return true
		case g.Grantee == GroupAuthenticated && authenticated:
			return true
		case project != "" && g.Grantee == project:
			return true
		}
	}
	return false
}
