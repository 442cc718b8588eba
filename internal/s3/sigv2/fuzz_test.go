package sigv2_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/s3/sigv2"
)

// FuzzVerify: no Authorization header or query, however malformed, makes
// Verify panic or accept a request whose signature was not made with the
// secret.
func FuzzVerify(f *testing.F) {
	f.Add("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", "", "Tue, 27 Mar 2007 19:36:42 +0000")
	f.Add("", "AWSAccessKeyId=AK&Expires=9999999999&Signature=abc", "")
	f.Add("AWS HAHAHA", "acl&versionId=1", "Bad Date")
	f.Add("AWS :", "list-type=2&prefix=a", "20261202T000000Z")
	secret := func(ctx context.Context, key string) (string, error) { return "secret", nil }
	now := time.Date(2007, 3, 27, 19, 40, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, auth, query, date string) {
		r, err := http.NewRequest("GET", "http://h/b/k?"+query, nil)
		if err != nil {
			return
		}
		r.RequestURI = "/b/k?" + query
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if date != "" {
			r.Header.Set("Date", date)
		}
		res, err := sigv2.Verify(context.Background(), r, now, secret, "")
		if err == nil && res != nil && strings.Contains(auth, ":forged") {
			t.Fatalf("accepted a forged signature: %q %q", auth, query)
		}
	})
}
