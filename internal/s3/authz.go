package s3

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stowage/stowage/internal/core/bucket"
)

// This file is the S3 authorisation decision, whole: every route loads
// its bucket and asks authorize once, with its action and the key it acts
// on. The order is the one AWS documents for a bucket's resource policy:
//
//  1. identity and key scope: who signed (nobody, a project's key, or an
//     object-storage service's key, which owns only its service's
//     buckets), and so whether the caller owns the bucket;
//  2. an explicit Deny in the bucket policy that matches the caller, the
//     action, the resource and whose conditions hold refuses, whatever
//     else would allow (ownership included; only the owner's right to
//     read, replace and delete the policy itself survives, as the AWS
//     account root's does, so that a Deny cannot lock the owner out);
//  3. the owner may do everything else, except read an object another
//     project wrote and owns (ObjectWriter ownership) or its ACL, which
//     that project may, and the bucket owner only as the object's ACL
//     grants;
//  4. a policy Allow grants the caller the action; a grant to everyone
//     ("*") is ignored under RestrictPublicBuckets, and never lets anyone
//     change the bucket's configuration or delete it: that needs a grant
//     naming an authenticated principal (a project);
//  5. the ACLs grant what they say (bucket READ lists, bucket WRITE
//     writes objects, READ_ACP and WRITE_ACP read and replace the ACL,
//     object READ reads the object, FULL_CONTROL all of these), to
//     projects they name and to the AllUsers and AuthenticatedUsers
//     groups, unless the bucket's ownership controls disable ACLs; its
//     public access block's IgnorePublicAcls voids the group grants, and
//     a group grant never changes the bucket;
//  6. anything else is AccessDenied.

// Actions name what a request does, in the vocabulary of bucket policies.
const (
	actGetObject = "s3:GetObject"
	actPutObject = "s3:PutObject"
	actDelete    = "s3:DeleteObject"
	actList      = "s3:ListBucket"
)

// objectActions are the actions whose policy resource is one object,
// "arn:aws:s3:::bucket/key"; every other action's resource is the bucket
// itself, "arn:aws:s3:::bucket", which a grant on "bucket/*" does not
// match.
var objectActions = map[string]bool{
	actGetObject: true, actPutObject: true, actDelete: true, "s3:DeleteObjectVersion": true,
	"s3:GetObjectTagging": true, "s3:PutObjectTagging": true, "s3:DeleteObjectTagging": true,
	"s3:GetObjectAcl": true, "s3:PutObjectAcl": true,
	"s3:GetObjectRetention": true, "s3:PutObjectRetention": true, "s3:GetObjectLegalHold": true, "s3:PutObjectLegalHold": true,
	"s3:BypassGovernanceRetention": true, "s3:AbortMultipartUpload": true, "s3:ListMultipartUploadParts": true,
}

// bucketChanges are the actions that change a bucket's configuration or
// delete it. A grant to everyone never allows them.
var bucketChanges = map[string]bool{
	"s3:PutBucketPolicy": true, "s3:DeleteBucketPolicy": true, "s3:PutBucketAcl": true,
	"s3:PutEncryptionConfiguration": true, "s3:PutBucketVersioning": true, "s3:PutBucketObjectLockConfiguration": true,
	"s3:PutBucketCORS": true, "s3:DeleteBucket": true, "s3:PutBucketPublicAccessBlock": true, "s3:PutBucketOwnershipControls": true,
	"s3:PutBucketTagging": true, "s3:PutLifecycleConfiguration": true, "s3:PutBucketNotification": true,
}

// objectOwnerActions are the actions an object's owner may take on it
// whoever owns the bucket: reading it, and reading and replacing its ACL.
var objectOwnerActions = map[string]bool{actGetObject: true, "s3:GetObjectAcl": true, "s3:PutObjectAcl": true}

// policyActions are what the owner keeps under any Deny.
var policyActions = map[string]bool{"s3:GetBucketPolicy": true, "s3:PutBucketPolicy": true, "s3:DeleteBucketPolicy": true}

// loadBucket reads the request's bucket and applies
// x-amz-expected-bucket-owner; it decides nothing else.
func (h *Handler) loadBucket(req *request) (bucket.Bucket, error) {
	b, err := h.o.Meta.BucketConfig(req.r.Context(), req.bucket)
	if isNotExist(err) {
		return b, apiErr(errNoSuchBucket, "the specified bucket does not exist")
	}
	if err != nil {
		return b, err
	}
	if want := req.r.Header.Get("X-Amz-Expected-Bucket-Owner"); want != "" && want != b.ProjectID {
		return b, apiErr(errAccessDenied, "access denied")
	}
	return b, nil
}

// requireAuth refuses anonymous callers the operations that need an
// account: listing one's buckets and creating one.
func (h *Handler) requireAuth(req *request) error {
	if req.project == "" {
		return apiErr(errAccessDenied, "anonymous access is not allowed for this operation")
	}
	return nil
}

// bucketFor loads the request's bucket and authorises action on it, or on
// req.key for an object action. Reads whose answer depends on the object's
// own ACL load the bucket and then ask readable.
func (h *Handler) bucketFor(req *request, action string) (bucket.Bucket, error) {
	b, err := h.loadBucket(req)
	if err != nil {
		return b, err
	}
	return b, h.authorize(req, b, action, req.key, nil)
}

// objectFor loads the bucket and the version of the request's key, then
// decides action with that version, so that conditions on its tags
// (s3:ExistingObjectTag/…) are known. The version is nil when the key has
// none; the caller says so only after the decision.
func (h *Handler) objectFor(req *request, action string) (bucket.Bucket, *bucket.Object, error) {
	b, err := h.loadBucket(req)
	if err != nil {
		return b, nil, err
	}
	o, err := h.versionAt(req, b)
	switch {
	case err == nil:
		return b, &o, h.authorize(req, b, action, req.key, &o)
	case isNotExist(err):
		return b, nil, h.authorize(req, b, action, req.key, nil)
	}
	if aerr := h.authorize(req, b, action, req.key, nil); aerr != nil {
		return b, nil, aerr
	}
	return b, nil, err
}

// readable decides a read of key, whose version is o (nil when there is
// none): absence is told (NoSuchKey) only to callers who may list the
// bucket, so that it leaks no more than a listing; the rest are refused.
func (h *Handler) readable(req *request, b bucket.Bucket, key string, o *bucket.Object) error {
	if o == nil {
		// As a listing of the key itself: a policy that lets the caller
		// list only under some s3:prefix tells it absence there alone.
		asList := *req
		asList.r = req.r.Clone(req.r.Context())
		asList.r.URL.RawQuery = url.Values{"prefix": {key}}.Encode()
		if h.authorize(&asList, b, actList, "", nil) == nil {
			return apiErr(errNoSuchKey, "the specified key does not exist")
		}
		return apiErr(errAccessDenied, "access denied")
	}
	return h.authorize(req, b, actGetObject, key, o)
}

// authorize is the decision described at the top of this file: nil when
// req's caller may perform action on b (on key for an object action), an
// AccessDenied otherwise. o is the object an s3:GetObject reads, for its
// ACL; nil elsewhere.
func (h *Handler) authorize(req *request, b bucket.Bucket, action, key string, o *bucket.Object) error {
	if decide(req, b, action, key, o) {
		return nil
	}
	return apiErr(errAccessDenied, "access denied")
}

// decide is authorize's answer as a bool, for the table test.
func decide(req *request, b bucket.Bucket, action, key string, o *bucket.Object) bool {
	c := caller{project: req.project, service: req.service}
	owner := c.owns(b)
	resource := "arn:aws:s3:::" + b.Name
	if objectActions[action] {
		resource += "/" + key
	}
	var p policy
	if b.Policy != "" {
		var err error
		if p, err = parsePolicy(b.Policy); err != nil {
			// A stored policy a stricter parser no longer reads (one put
			// before it) grants nothing; its owner keeps the bucket, as
			// owners did before Deny was enforced, and can replace it.
			return owner
		}
	}
	env := conditionEnv{r: req.r, obj: o, now: req.startTime}
	if p.denies(c, action, resource, env) && !(owner && policyActions[action]) {
		return false
	}
	writer := b.ProjectID
	if o != nil && objectOwnerActions[action] {
		writer = objectOwner(b, o.ACL)
	}
	switch {
	case writer != b.ProjectID:
		// An object another project wrote and owns (ObjectWriter
		// ownership): its owner may read it and its ACL, the bucket's
		// owner only what the object's ACL grants it, as in S3.
		if c.project == writer && c.service == "" {
			return true
		}
	case owner:
		return true
	}
	if p.allows(c, action, resource, env, !b.RestrictsPolicy() && !bucketChanges[action]) {
		return true
	}
	if b.ACLsDisabled() {
		return false
	}
	// A grant naming a project stands for the project's own keys, as a
	// policy principal does; a group grant never changes the bucket.
	grantee := c.project
	if c.service != "" {
		grantee = ""
	}
	ignorePublic := b.IgnoresACLs() || bucketChanges[action]
	allows := func(acl, perm string) bool {
		return bucket.ACLAllows(acl, grantee, c.project != "", perm, ignorePublic)
	}
	switch action {
	case actList, "s3:ListBucketVersions", "s3:ListBucketMultipartUploads":
		return allows(b.ACL, bucket.PermRead)
	case actPutObject, actDelete, "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts":
		return allows(b.ACL, bucket.PermWrite)
	case "s3:GetBucketAcl":
		return allows(b.ACL, bucket.PermReadACP)
	case "s3:PutBucketAcl":
		return allows(b.ACL, bucket.PermWriteACP)
	case actGetObject:
		return o != nil && allows(o.ACL, bucket.PermRead)
	case "s3:GetObjectAcl":
		return o != nil && allows(o.ACL, bucket.PermReadACP)
	case "s3:PutObjectAcl":
		return o != nil && allows(o.ACL, bucket.PermWriteACP)
	}
	return false
}

// caller is who signed a request: no project when anonymous; a service
// when the key is an object-storage service's.
type caller struct{ project, service string }

// owns reports whether the caller owns b: the caller's project owns it,
// and a service's key owns only its service's buckets.
func (c caller) owns(b bucket.Bucket) bool {
	return c.project != "" && b.ProjectID == c.project && (c.service == "" || b.ServiceID == c.service)
}

// policy is the subset of an IAM resource policy S3 buckets use.
type policy struct {
	Version   string     `json:"Version"`
	ID        string     `json:"Id"`
	Statement statements `json:"Statement"`
}

// statements is a policy's Statement: a list, or one statement alone.
type statements []policyStatement

func (s *statements) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		b = append(append([]byte{'['}, b...), ']')
	}
	// A decoder of its own: the outer one's DisallowUnknownFields does not
	// reach into an UnmarshalJSON.
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var out []policyStatement
	if err := d.Decode(&out); err != nil {
		return err
	}
	*s = out
	return nil
}

type policyStatement struct {
	Sid    string `json:"Sid"`
	Effect string `json:"Effect"`
	// Exactly one of each pair is given; the Not* form covers everything
	// but what it names.
	Principal    *principal   `json:"Principal"`
	NotPrincipal *principal   `json:"NotPrincipal"`
	Action       stringOrList `json:"Action"`
	NotAction    stringOrList `json:"NotAction"`
	Resource     stringOrList `json:"Resource"`
	NotResource  stringOrList `json:"NotResource"`
	// Condition maps an operator to condition keys and their values.
	Condition map[string]map[string]stringOrList `json:"Condition"`
}

// principal is a statement's Principal: "*" (everyone, signed or not), or
// {"AWS": …} / {"CanonicalUser": …} naming "*" or projects, by id or as
// "arn:aws:iam::<project>:root" (a project is the account here).
type principal struct {
	everyone bool
	projects []string
}

func (pr *principal) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		if one != "*" {
			return fmt.Errorf("principal %q: only \"*\" may be given as a bare string", one)
		}
		pr.everyone = true
		return nil
	}
	var m map[string]stringOrList
	if err := json.Unmarshal(b, &m); err != nil {
		return errors.New("principal must be \"*\" or an object")
	}
	for kind, ids := range m {
		if kind != "AWS" && kind != "CanonicalUser" {
			return fmt.Errorf("principal kind %q is not supported (AWS or CanonicalUser)", kind)
		}
		for _, id := range ids {
			if id == "*" {
				pr.everyone = true
				continue
			}
			id = strings.TrimSuffix(strings.TrimPrefix(id, "arn:aws:iam::"), ":root")
			pr.projects = append(pr.projects, id)
		}
	}
	return nil
}

// names reports whether the principal names c. A project principal
// stands for the project's own keys, not its services' keys, which reach
// only their service's buckets.
func (pr principal) names(c caller) bool {
	if pr.everyone {
		return true
	}
	if c.project == "" || c.service != "" {
		return false
	}
	for _, p := range pr.projects {
		if p == c.project {
			return true
		}
	}
	return false
}

// stringOrList is a JSON string or list of strings; condition values may
// also be booleans or numbers, read as their JSON text.
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var many []json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		if err := json.Unmarshal(b, &many); err != nil {
			return err
		}
	} else {
		many = []json.RawMessage{b}
	}
	out := make([]string, 0, len(many))
	for _, raw := range many {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case bool, float64:
			out = append(out, string(bytes.TrimSpace(raw)))
		default:
			return errors.New("expected a string or a list of strings")
		}
	}
	*s = out
	return nil
}

// parsePolicy reads a policy document strictly: fields this engine does
// not evaluate are refused rather than ignored, since ignoring them would
// change what the policy means.
func parsePolicy(doc string) (policy, error) {
	var p policy
	d := json.NewDecoder(strings.NewReader(doc))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		return p, err
	}
	if len(p.Statement) == 0 {
		return p, errors.New("policy has no statements")
	}
	for _, st := range p.Statement {
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return p, errors.New("statement effect must be Allow or Deny")
		}
		if (len(st.Action) == 0) == (len(st.NotAction) == 0) {
			return p, errors.New("statement needs one of Action and NotAction")
		}
		if (len(st.Resource) == 0) == (len(st.NotResource) == 0) {
			return p, errors.New("statement needs one of Resource and NotResource")
		}
		pr := st.Principal
		if pr == nil {
			pr = st.NotPrincipal
		}
		if (st.Principal == nil) == (st.NotPrincipal == nil) || !pr.everyone && len(pr.projects) == 0 {
			return p, errors.New("statement needs one of Principal and NotPrincipal")
		}
		if st.NotPrincipal != nil && st.NotPrincipal.everyone {
			return p, errors.New("a NotPrincipal of \"*\" names no one")
		}
		if st.NotPrincipal != nil && st.Effect == "Allow" {
			// As S3: an Allow to everyone but a few would open the bucket
			// to every other tenant and the anonymous.
			return p, errors.New("NotPrincipal may only be used with Deny")
		}
	}
	return p, nil
}

// applies reports whether st covers c doing action on resource; its
// conditions are judged separately.
func (st policyStatement) applies(c caller, action, resource string) bool {
	if st.Principal != nil && !st.Principal.names(c) || st.NotPrincipal != nil && st.NotPrincipal.names(c) {
		return false
	}
	if len(st.NotAction) > 0 && matchAction(st.NotAction, action) || len(st.NotAction) == 0 && !matchAction(st.Action, action) {
		return false
	}
	if len(st.NotResource) > 0 {
		return !matchAny(st.NotResource, resource)
	}
	return matchAny(st.Resource, resource)
}

// toEveryone reports whether st may reach callers it does not name: a
// Principal "*", or a NotPrincipal (everyone but those it names, the
// anonymous included; parsePolicy allows it only in a Deny).
func (st policyStatement) toEveryone() bool {
	return st.NotPrincipal != nil || st.Principal != nil && st.Principal.everyone
}

// matchAction matches actions as IAM does, without regard to case.
func matchAction(patterns []string, action string) bool {
	for _, p := range patterns {
		if wildcard(strings.ToLower(p), strings.ToLower(action)) {
			return true
		}
	}
	return false
}

// denies reports whether a Deny statement refuses c: it applies and its
// conditions hold. A condition this engine cannot evaluate is taken to
// hold, so that an unfamiliar Deny errs on the side of refusing.
func (p policy) denies(c caller, action, resource string, env conditionEnv) bool {
	for _, st := range p.Statement {
		if st.Effect == "Deny" && st.applies(c, action, resource) {
			if holds, known := env.all(st.Condition); holds || !known {
				return true
			}
		}
	}
	return false
}

// allows reports whether an Allow statement grants c the action: it
// applies, every condition is understood and holds, and, when it grants
// to everyone, public grants count (public).
func (p policy) allows(c caller, action, resource string, env conditionEnv, public bool) bool {
	for _, st := range p.Statement {
		if st.Effect != "Allow" || !st.applies(c, action, resource) {
			continue
		}
		if st.toEveryone() && !public {
			continue
		}
		if holds, known := env.all(st.Condition); holds && known {
			return true
		}
	}
	return false
}

// public reports whether any statement allows everyone, as S3 judges it:
// an Allow to "*" is not public when it holds only from fixed source
// addresses (aws:SourceIp under IpAddress, without a match-all range).
func (p policy) public() bool {
	for _, st := range p.Statement {
		if st.Effect == "Allow" && st.toEveryone() && !fixedSources(st.Condition) {
			return true
		}
	}
	return false
}

func fixedSources(conds map[string]map[string]stringOrList) bool {
	for op, keys := range conds {
		if op != "IpAddress" {
			continue
		}
		for key, cidrs := range keys {
			if !strings.EqualFold(key, "aws:SourceIp") || len(cidrs) == 0 {
				continue
			}
			open := false
			for _, c := range cidrs {
				if _, n, err := net.ParseCIDR(c); err != nil || n == nil {
					open = open || net.ParseIP(c) == nil
				} else if ones, _ := n.Mask.Size(); ones == 0 {
					open = true
				}
			}
			if !open {
				return true
			}
		}
	}
	return false
}

// conditionEnv answers condition keys from the request, the object it
// acts on (nil when the route does not load one before deciding) and the
// time it arrived.
type conditionEnv struct {
	r   *http.Request
	obj *bucket.Object
	now time.Time
}

// value returns a condition key's value in this request: present says
// whether the request has it, known whether this engine knows the key.
func (e conditionEnv) value(key string) (v string, present, known bool) {
	k := strings.ToLower(key)
	switch {
	case k == "aws:securetransport":
		return strconv.FormatBool(e.r.TLS != nil), true, true
	case k == "aws:sourceip":
		host, _, err := net.SplitHostPort(e.r.RemoteAddr)
		if err != nil {
			host = e.r.RemoteAddr
		}
		return host, true, true
	case k == "aws:useragent" || k == "aws:referer":
		h := e.r.Header.Values(strings.TrimPrefix(k, "aws:"))
		return strings.Join(h, ","), len(h) > 0, true
	case strings.HasPrefix(k, "s3:x-amz-"):
		// S3's header condition keys are named after the header.
		h := e.r.Header.Values(strings.TrimPrefix(k, "s3:"))
		return strings.Join(h, ","), len(h) > 0, true
	case k == "s3:prefix" || k == "s3:delimiter" || k == "s3:max-keys":
		q := e.r.URL.Query()
		name := strings.TrimPrefix(k, "s3:")
		return q.Get(name), q.Has(name), true
	case k == "s3:versionid":
		q := e.r.URL.Query()
		return q.Get("versionId"), q.Has("versionId"), true
	case k == "aws:currenttime":
		return e.now.UTC().Format(time.RFC3339), true, true
	case k == "aws:epochtime":
		return strconv.FormatInt(e.now.Unix(), 10), true, true
	case strings.HasPrefix(k, "s3:existingobjecttag/"):
		// Only routes that read the object before deciding know its tags.
		if e.obj == nil {
			return "", false, false
		}
		v, ok := e.obj.Tags[key[len("s3:ExistingObjectTag/"):]]
		return v, ok, true
	case strings.HasPrefix(k, "s3:requestobjecttag/"):
		// The tags a write sets in x-amz-tagging; a PutObjectTagging body
		// is read after the decision, so its tags are not known here.
		if e.r.Method != http.MethodPut && e.r.Method != http.MethodPost || e.r.URL.Query().Has("tagging") {
			return "", false, false
		}
		q, err := url.ParseQuery(e.r.Header.Get("X-Amz-Tagging"))
		if err != nil {
			return "", false, false
		}
		name := key[len("s3:RequestObjectTag/"):]
		return q.Get(name), q.Has(name), true
	}
	return "", false, false
}

// conditionOperators are the operators this engine evaluates, each also
// with the IfExists suffix (but Null); any other makes its condition
// unknown.
var conditionOperators = map[string]bool{
	"StringEquals": true, "StringNotEquals": true, "StringEqualsIgnoreCase": true, "StringNotEqualsIgnoreCase": true,
	"StringLike": true, "StringNotLike": true, "Bool": true, "IpAddress": true, "NotIpAddress": true, "Null": true,
	"NumericEquals": true, "NumericNotEquals": true, "NumericLessThan": true, "NumericLessThanEquals": true,
	"NumericGreaterThan": true, "NumericGreaterThanEquals": true,
	"DateEquals": true, "DateNotEquals": true, "DateLessThan": true, "DateLessThanEquals": true,
	"DateGreaterThan": true, "DateGreaterThanEquals": true,
}

// compare orders a condition value against a policy value for the Numeric
// and Date operators: numbers as numbers, dates as instants (RFC 3339, a
// date, or seconds since the epoch). ok is false when either is not one.
func compare(numeric bool, v, w string) (cmp int, ok bool) {
	if numeric {
		a, err1 := strconv.ParseFloat(v, 64)
		b, err2 := strconv.ParseFloat(w, 64)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		switch {
		case a < b:
			return -1, true
		case a > b:
			return 1, true
		}
		return 0, true
	}
	a, ok1 := policyTime(v)
	b, ok2 := policyTime(w)
	if !ok1 || !ok2 {
		return 0, false
	}
	return a.Compare(b), true
}

func policyTime(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

// all evaluates a statement's conditions: every operator's every key must
// hold. known is false when an operator or key is not understood.
func (e conditionEnv) all(conds map[string]map[string]stringOrList) (holds, known bool) {
	holds, known = true, true
	for op, keys := range conds {
		for key, want := range keys {
			h, k := e.one(op, key, want)
			holds = holds && h
			known = known && k
		}
	}
	return holds, known
}

// one evaluates one operator on one key against the values it lists,
// which it holds for if any one matches (negated operators: if none does).
// A missing key fails every positive operator and satisfies every negated
// one, as in IAM; the IfExists suffix makes a missing key satisfy any.
func (e conditionEnv) one(op, key string, want []string) (holds, known bool) {
	v, present, known := e.value(key)
	if !known {
		return false, false
	}
	base, ifExists := strings.CutSuffix(op, "IfExists")
	if base == "Null" {
		if ifExists {
			return false, false
		}
		for _, w := range want {
			if b, err := strconv.ParseBool(w); err == nil && b == !present {
				return true, true
			}
		}
		return false, true
	}
	negated := strings.Contains(base, "Not")
	if !present {
		return ifExists || negated, true
	}
	var match func(w string) bool
	switch base {
	case "StringEquals", "StringNotEquals":
		match = func(w string) bool { return v == w }
	case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
		match = func(w string) bool { return strings.EqualFold(v, w) }
	case "StringLike", "StringNotLike":
		match = func(w string) bool { return wildcard(w, v) }
	case "Bool":
		match = func(w string) bool { return strings.EqualFold(v, w) }
	case "IpAddress", "NotIpAddress":
		ip := net.ParseIP(v)
		match = func(w string) bool {
			if _, n, err := net.ParseCIDR(w); err == nil {
				return ip != nil && n.Contains(ip)
			}
			return ip != nil && ip.Equal(net.ParseIP(w))
		}
	default:
		numeric := strings.HasPrefix(base, "Numeric")
		if !numeric && !strings.HasPrefix(base, "Date") || !conditionOperators[base] {
			return false, false
		}
		test := strings.TrimPrefix(strings.TrimPrefix(base, "Numeric"), "Date")
		bad := false
		match = func(w string) bool {
			c, ok := compare(numeric, v, w)
			bad = bad || !ok
			switch test {
			case "Equals", "NotEquals":
				return ok && c == 0
			case "LessThan":
				return ok && c < 0
			case "LessThanEquals":
				return ok && c <= 0
			case "GreaterThan":
				return ok && c > 0
			}
			return ok && c >= 0 // GreaterThanEquals
		}
		defer func() {
			// A value that is no number (date) makes the condition
			// unknown: a Deny applies and an Allow grants nothing.
			if bad {
				holds, known = false, false
			}
		}()
	}
	matched := false
	for _, w := range want {
		matched = matched || match(w)
	}
	return matched != negated, true
}
