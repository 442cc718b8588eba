package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

// TestLifecycleRunsInServe: `serve` applies lifecycle rules by itself, in
// the background, with --s3-lifecycle-day shortening the day: an object
// under a one-day rule disappears, its neighbour stays.
func TestLifecycleRunsInServe(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, func(c *config.Config) { c.S3LifecycleDay = 2 * time.Second })
	var projects struct {
		Items []struct{ ID string } `json:"items"`
	}
	e.Do("GET", "/api/v1/projects", testenv.Bearer(e.AdminToken), nil).JSON(t, &projects)
	if len(projects.Items) == 0 {
		t.Fatal("no project")
	}
	var key struct {
		Access string `json:"access_key_id"`
		Secret string `json:"secret_access_key"`
	}
	r := e.Do("POST", "/api/v1/projects/"+projects.Items[0].ID+"/credentials", testenv.Bearer(e.AdminToken), map[string]string{"description": "lc"})
	if r.Status != 201 {
		t.Fatalf("credential: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &key)
	creds := &aws.Credentials{AccessKeyID: key.Access, SecretAccessKey: key.Secret}
	must := func(method, path, query string, body string, want int) {
		t.Helper()
		if r := e.S3(creds, method, path, query, http.Header{}, []byte(body)); r.Status != want {
			t.Fatalf("%s %s?%s: %d %s", method, path, query, r.Status, r.Body)
		}
	}
	must("PUT", "/lcserve", "", "", 200)
	must("PUT", "/lcserve", "lifecycle=", `<LifecycleConfiguration><Rule><ID>tmp</ID><Filter><Prefix>tmp/</Prefix></Filter>`+
		`<Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`, 200)
	must("PUT", "/lcserve/tmp/a", "", "short-lived", 200)
	must("PUT", "/lcserve/keep", "", "kept", 200)
	deadline := time.Now().Add(60 * time.Second)
	for e.S3(creds, "HEAD", "/lcserve/tmp/a", "", http.Header{}, nil).Status != 404 {
		if time.Now().After(deadline) {
			t.Fatal("tmp/a was not expired within 60 s (30 lifecycle days)")
		}
		time.Sleep(100 * time.Millisecond) // polling a condition, with a deadline
	}
	must("HEAD", "/lcserve/keep", "", "", 200)
}
