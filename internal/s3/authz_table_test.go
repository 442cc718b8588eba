package s3

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/core/bucket"
)

// TestAuthorizeTable walks the decision over (action × resource ×
// principal × bucket configuration). The routes' wiring to it is tested
// through real clients (authz_test.go and the isolation matrix); this
// table pins the order of evaluation.
func TestAuthorizeTable(t *testing.T) {
	const (
		projA, projB, svc = "proj-a", "proj-b", "svc-1"
	)
	pol := func(stmts string) string { return `{"Version":"2012-10-17","Statement":[` + stmts + `]}` }
	configs := map[string]bucket.Bucket{
		"private":       {ACL: bucket.ACLPrivate},
		"public-read":   {ACL: bucket.ACLPublicRead},
		"public-rw":     {ACL: bucket.ACLPublicReadWrite},
		"auth-read":     {ACL: bucket.ACLAuthenticatedRead},
		"object-grant":  {Policy: pol(`{"Effect":"Allow","Principal":"*","Action":["s3:Get*","s3:Put*","s3:Delete*"],"Resource":"arn:aws:s3:::b/*"}`)},
		"all-to-all":    {Policy: pol(`{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}`)},
		"named-b":       {Policy: pol(`{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::proj-b:root"]},"Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}`)},
		"prefix-grant":  {Policy: pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/pub/*"}`)},
		"deny-put":      {ACL: bucket.ACLPublicReadWrite, Policy: pol(`{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}`)},
		"deny-list":     {ACL: bucket.ACLAuthenticatedRead, Policy: pol(`{"Effect":"Deny","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}`)},
		"deny-all":      {Policy: pol(`{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}`)},
		"deny-no-sse":   {Policy: pol(`{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*","Condition":{"Null":{"s3:x-amz-server-side-encryption":"true"}}}`)},
		"deny-unknown":  {Policy: pol(`{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}`)},
		"allow-unknown": {Policy: pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}`)},
		"allow-tls":     {Policy: pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}`)},
		"restricted":    {AccessBlock: &bucket.AccessBlock{RestrictPublicBuckets: true}, Policy: pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}`)},
		"ignore-acls":   {ACL: bucket.ACLPublicReadWrite, AccessBlock: &bucket.AccessBlock{IgnorePublicAcls: true}},
		"enforced":      {ACL: bucket.ACLPublicReadWrite, Ownership: "BucketOwnerEnforced"},
		"one-statement": {Policy: `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}}`},
	}
	type principal struct{ project, service string }
	principals := map[string]principal{
		"owner": {projA, ""}, "other-service-of-owner": {projA, svc}, "other-project": {projB, ""}, "anonymous": {"", ""},
	}
	readable := &bucket.Object{ACL: bucket.ACLPublicRead}
	private := &bucket.Object{ACL: bucket.ACLPrivate}
	type row struct {
		config, who, action, key string
		o                        *bucket.Object
		header                   string // an x-amz-server-side-encryption value, if any
		want                     bool
	}
	rows := []row{
		// Identity and key scope: the owner may do everything, a service
		// key owns only its service's buckets.
		{"private", "owner", "s3:PutBucketPolicy", "", nil, "", true},
		{"private", "owner", actGetObject, "k", private, "", true},
		{"private", "other-service-of-owner", actGetObject, "k", private, "", false},
		{"private", "other-project", actList, "", nil, "", false},
		{"private", "anonymous", actGetObject, "k", private, "", false},
		// ACLs: bucket READ lists, WRITE writes; object READ reads.
		{"public-read", "anonymous", actList, "", nil, "", true},
		{"public-read", "anonymous", actPutObject, "k", nil, "", false},
		{"public-read", "anonymous", actGetObject, "k", private, "", false},
		{"private", "anonymous", actGetObject, "k", readable, "", true},
		{"public-rw", "anonymous", actPutObject, "k", nil, "", true},
		{"public-rw", "anonymous", "s3:PutBucketAcl", "", nil, "", false},
		{"public-rw", "anonymous", "s3:DeleteBucket", "", nil, "", false},
		{"auth-read", "anonymous", actList, "", nil, "", false},
		{"auth-read", "other-project", actList, "", nil, "", true},
		// Bucket actions match the bucket, object actions the object.
		{"object-grant", "anonymous", actPutObject, "k", nil, "", true},
		{"object-grant", "anonymous", actGetObject, "k", private, "", true},
		{"object-grant", "anonymous", "s3:PutBucketPolicy", "", nil, "", false},
		{"object-grant", "anonymous", "s3:PutBucketAcl", "", nil, "", false},
		{"object-grant", "anonymous", "s3:DeleteBucket", "", nil, "", false},
		{"object-grant", "anonymous", "s3:GetBucketPolicy", "", nil, "", false},
		{"prefix-grant", "anonymous", actGetObject, "pub/x", private, "", true},
		{"prefix-grant", "anonymous", actGetObject, "priv/x", private, "", false},
		// A grant to everyone reads and lists but never changes a bucket.
		{"all-to-all", "anonymous", actList, "", nil, "", true},
		{"all-to-all", "anonymous", "s3:GetBucketPolicy", "", nil, "", true},
		{"all-to-all", "anonymous", "s3:PutBucketPolicy", "", nil, "", false},
		{"all-to-all", "other-project", "s3:DeleteBucket", "", nil, "", false},
		{"all-to-all", "other-project", "s3:PutEncryptionConfiguration", "", nil, "", false},
		// A grant naming a project does, for that project's own keys.
		{"named-b", "other-project", "s3:PutBucketCORS", "", nil, "", true},
		{"named-b", "other-project", actGetObject, "k", private, "", true},
		{"named-b", "anonymous", actGetObject, "k", private, "", false},
		// Explicit Deny first, over ACLs and ownership; the owner keeps the
		// policy itself.
		{"deny-put", "anonymous", actPutObject, "k", nil, "", false},
		{"deny-put", "owner", actPutObject, "k", nil, "", false},
		{"deny-put", "owner", actGetObject, "k", private, "", true},
		{"deny-list", "other-project", actList, "", nil, "", false},
		{"deny-list", "owner", actList, "", nil, "", false},
		{"deny-all", "owner", "s3:PutBucketAcl", "", nil, "", false},
		{"deny-all", "owner", "s3:DeleteBucketPolicy", "", nil, "", true},
		{"deny-all", "owner", "s3:PutBucketPolicy", "", nil, "", true},
		{"deny-all", "other-project", "s3:PutBucketPolicy", "", nil, "", false},
		// Conditions: a Deny holds when they do, or when not understood;
		// an Allow only when understood and true.
		{"deny-no-sse", "owner", actPutObject, "k", nil, "", false},
		{"deny-no-sse", "owner", actPutObject, "k", nil, "AES256", true},
		{"deny-unknown", "owner", actGetObject, "k", private, "", false},
		{"allow-unknown", "anonymous", actGetObject, "k", private, "", false},
		{"allow-tls", "anonymous", actGetObject, "k", private, "", false},
		// The bucket's controls restrain public grants.
		{"restricted", "anonymous", actGetObject, "k", private, "", false},
		{"ignore-acls", "anonymous", actPutObject, "k", nil, "", false},
		{"ignore-acls", "anonymous", actGetObject, "k", readable, "", false},
		{"enforced", "anonymous", actPutObject, "k", nil, "", false},
		{"enforced", "owner", actPutObject, "k", nil, "", true},
		// A Statement may be one statement rather than a list.
		{"one-statement", "anonymous", actList, "", nil, "", true},
	}
	for _, r := range rows {
		name := fmt.Sprintf("%s/%s/%s", r.config, r.who, r.action)
		b, ok := configs[r.config]
		p, pok := principals[r.who]
		if !ok || !pok {
			t.Fatalf("%s: unknown configuration or principal", name)
		}
		b.Name, b.ProjectID = "b", projA
		if b.ACL == "" {
			b.ACL = bucket.ACLPrivate
		}
		hr := httptest.NewRequest("PUT", "/b/"+r.key, nil)
		if r.header != "" {
			hr.Header.Set("X-Amz-Server-Side-Encryption", r.header)
		}
		req := &request{r: hr, bucket: "b", key: r.key, project: p.project, service: p.service}
		if got := decide(req, b, r.action, r.key, r.o); got != r.want {
			t.Errorf("%s on %q: %v, want %v", name, r.key, got, r.want)
		}
	}
	t.Logf("%d decisions over %d configurations and %d principals", len(rows), len(configs), len(principals))
}

// FuzzPolicyDecision feeds arbitrary policies and keys to the decision
// and checks what must hold whatever the policy says, within a time bound
// (wildcards in a policy once made one request take seconds): nobody but
// the owner changes a bucket unless a statement names them; anonymous
// callers never do; without a Deny the owner may do everything.
func FuzzPolicyDecision(f *testing.F) {
	f.Add(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:Get*","s3:Put*"],"Resource":"arn:aws:s3:::b/*"}]}`, "k", uint8(0))
	f.Add(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*a*a*a*a*b"}]}`, strings.Repeat("a", 1000), uint8(1))
	f.Add(`{"Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],"Condition":{"StringNotLike":{"s3:prefix":"a*?*"}}}]}`, "x", uint8(2))
	f.Add(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::proj-b:root"},"Action":"s3:PutBucket*","Resource":"arn:aws:s3:::b"}]}`, "", uint8(3))
	actions := []string{actGetObject, actPutObject, actList, "s3:PutBucketPolicy", "s3:DeleteBucket", "s3:PutBucketAcl", "s3:GetBucketPolicy"}
	who := []caller{{"proj-a", ""}, {"proj-b", ""}, {"", ""}, {"proj-a", "svc"}}
	f.Fuzz(func(t *testing.T, doc, key string, pick uint8) {
		if len(doc) > maxPolicy || len(key) > 1024 {
			return // the sizes PUT ?policy and keys are held to
		}
		p, err := parsePolicy(doc)
		if err != nil {
			return
		}
		action := actions[int(pick)%len(actions)]
		c := who[int(pick/8)%len(who)]
		b := bucket.Bucket{Name: "b", ProjectID: "proj-a", ACL: bucket.ACLPublicReadWrite, Policy: doc}
		hr := httptest.NewRequest("GET", "/b?prefix="+url.QueryEscape(key), nil)
		req := &request{r: hr, bucket: "b", key: key, project: c.project, service: c.service}
		start := time.Now()
		got := decide(req, b, action, key, &bucket.Object{ACL: bucket.ACLPublicRead})
		if d := time.Since(start); d > time.Second {
			t.Fatalf("%s by %+v took %v", action, c, d)
		}
		if !got || c.owns(b) || !bucketChanges[action] {
			if !got && c.owns(b) {
				for _, st := range p.Statement {
					if st.Effect == "Deny" {
						return
					}
				}
				t.Fatalf("owner refused %s by a policy without Deny: %s", action, doc)
			}
			return
		}
		if c.project == "" {
			t.Fatalf("anonymous allowed %s by %s", action, doc)
		}
		for _, st := range p.Statement {
			if st.Effect == "Allow" && st.Principal != nil && slices.Contains(st.Principal.projects, c.project) {
				return
			}
		}
		t.Fatalf("%+v allowed %s without being named: %s", c, action, doc)
	})
}
