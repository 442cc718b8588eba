package isolation

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stowage/stowage/internal/s3"
	"github.com/stowage/stowage/internal/testenv"
)

// On S3 the caller is a key, not a user: a key has its project's power
// while the user who made it holds the member role there, and none once
// they lose it. So the S3 columns are a member's key (allowed), the key of
// the removed member (revoked when they were removed) and no key.
var s3Callers = []string{"anonymous", "removed", "member"}

type s3Tally struct {
	routes, checks, allowed, succeeded, refused, leaked int
}

// s3Matrix sends every operation of the S3 routing table at the team's
// bucket with each key.
func (m *roleFixture) s3Matrix(t *testing.T) s3Tally {
	var n s3Tally
	creds := map[string]*aws.Credentials{"removed": &m.tm.removedKey, "member": &m.own}
	routes := slices.Clone(s3.Routes())
	rank := func(rt s3.Route) int {
		switch {
		case rt.Method == "GET" || rt.Method == "HEAD":
			return 0
		case rt.Method == "DELETE":
			return 2
		}
		return 1
	}
	slices.SortStableFunc(routes, func(a, b s3.Route) int { return rank(a) - rank(b) })
	for _, rt := range routes {
		n.routes++
		path := "/"
		key := "k"
		if strings.Contains(strings.Join(rt.Query, "&"), "uploadId") {
			key = "mpu"
		}
		switch rt.Scope {
		case s3.BucketScope:
			path += m.bucket
		case s3.ObjectScope:
			path += m.bucket + "/" + key
		}
		for _, label := range s3Callers {
			h := http.Header{}
			if rt.Header != "" {
				h.Set(rt.Header, "/"+m.bucket+"/k")
			}
			body := []byte(s3Bodies(m.bucket, "k")[rt.Op])
			if rt.Op == "PostObject" {
				h.Set("Content-Type", "multipart/form-data; boundary="+formBoundary)
			}
			if rt.Op == "DeleteObjects" {
				sum := md5.Sum(body)
				h.Set("Content-Md5", base64.StdEncoding.EncodeToString(sum[:]))
			}
			query := testenv.S3Query(rt, m.upload, "1")
			r := m.e.S3(creds[label], rt.Method, path, query, h, body)
			n.checks++
			what := fmt.Sprintf("S3 %s as %s (%s %s?%s)", rt.Op, label, rt.Method, path, query)
			switch {
			case r.Status >= 500 && r.Status != 501:
				t.Errorf("%s: server error %d: %.300s", what, r.Status, r.Body)
			case label == "member":
				n.allowed++
				if r.Status < 300 {
					n.succeeded++
				}
				if r.Status == 401 || r.Status == 403 {
					t.Errorf("%s: a member's key was refused %d: %.300s", what, r.Status, r.Body)
				}
			default:
				if r.Status < 400 {
					t.Errorf("%s: answered %d: %.300s", what, r.Status, r.Body)
					break
				}
				n.refused++
				if len(r.Body) > 0 && !strings.Contains(string(r.Body), "<Error>") {
					t.Errorf("%s: %d is not an S3 error: %.300s", what, r.Status, r.Body)
				}
			}
			if label != "member" {
				for _, s := range m.capabilities() {
					if s != "" && strings.Contains(string(r.Body), s) {
						n.leaked++
						t.Errorf("%s: response carries a capability %q", what, s)
					}
				}
			}
		}
	}
	return n
}
