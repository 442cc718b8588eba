package isolation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stowage/stowage/internal/testenv"
)

// TestRevocationIsImmediate checks that taking access away works on the
// very next request, whatever the S3 path caches: a revoked key, a bucket
// made private again and a deleted bucket policy. On PostgreSQL it runs
// on two nodes sharing the database as well: every change is made on
// node A and checked on node B, whose caches only hear of it through
// LISTEN/NOTIFY.
func TestRevocationIsImmediate(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { e := testenv.Start(t); revocation(t, e, e) })
	if os.Getenv("TEST_PG_DSN") != "" {
		t.Run("postgres", func(t *testing.T) { e := testenv.Start(t, testenv.Postgres(t)); revocation(t, e, e) })
		t.Run("postgres-two-nodes", func(t *testing.T) {
			a := testenv.Start(t, testenv.Postgres(t))
			b := testenv.Join(t, a)
			revocation(t, a, b)
			sessionOnEveryNode(t, a, b)
		})
	}
}

// revocation changes things on a and checks their effect on b.
func revocation(t *testing.T, a, b *testenv.Env) {
	admin := testenv.Bearer(a.AdminToken)
	var ps struct{ Items []struct{ ID string } }
	a.Do("GET", "/api/v1/projects", admin, nil).JSON(t, &ps)
	project := ps.Items[0].ID
	api(t, a, a.AdminToken, "POST", "/api/v1/projects/"+project+"/buckets", obj{"name": "revoke-" + randomHex(4)}, 201)
	var bs struct{ Items []struct{ Name string } }
	a.Do("GET", "/api/v1/projects/"+project+"/buckets", admin, nil).JSON(t, &bs)
	bucket := bs.Items[0].Name
	c := api(t, a, a.AdminToken, "POST", "/api/v1/projects/"+project+"/credentials", nil, 201)
	creds := &aws.Credentials{AccessKeyID: str(c, "access_key_id"), SecretAccessKey: str(c, "secret_access_key")}

	for range 3 { // warm whatever the S3 path keeps, on both nodes
		mustS3(t, a.S3(creds, "PUT", "/"+bucket+"/k", "", nil, []byte("data")), 200)
		mustS3(t, b.S3(creds, "PUT", "/"+bucket+"/k", "", nil, []byte("data")), 200)
	}
	// Public through the native API (the bucket ACL: anyone may list),
	// then private again.
	api(t, a, a.AdminToken, "PATCH", "/api/v1/projects/"+project+"/buckets/"+bucket, obj{"public": true}, 200)
	for range 3 {
		mustS3(t, b.S3(nil, "GET", "/"+bucket, "list-type=2", nil, nil), 200)
	}
	api(t, a, a.AdminToken, "PATCH", "/api/v1/projects/"+project+"/buckets/"+bucket, obj{"public": false}, 200)
	if r := b.S3(nil, "GET", "/"+bucket, "list-type=2", nil, nil); r.Status != 403 {
		t.Errorf("anonymous listing right after the bucket was made private: %d %s", r.Status, r.Body)
	}
	// Readable through an S3 bucket policy, then the policy deleted.
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + bucket + `/*"}]}`
	mustS3(t, a.S3(creds, "PUT", "/"+bucket, "policy=", nil, []byte(policy)), 204)
	for range 3 {
		mustS3(t, b.S3(nil, "GET", "/"+bucket+"/k", "", nil, nil), 200)
	}
	mustS3(t, a.S3(creds, "DELETE", "/"+bucket, "policy=", nil, nil), 204)
	if r := b.S3(nil, "GET", "/"+bucket+"/k", "", nil, nil); r.Status != 403 {
		t.Errorf("anonymous GET right after the policy was deleted: %d %s", r.Status, r.Body)
	}
	for range 3 {
		mustS3(t, b.S3(creds, "GET", "/"+bucket+"/k", "", nil, nil), 200)
	}
	if r := a.Do("DELETE", "/api/v1/projects/"+project+"/credentials/"+creds.AccessKeyID, admin, nil); r.Status != 204 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if r := b.S3(creds, "GET", "/"+bucket+"/k", "", nil, nil); r.Status != 403 {
		t.Errorf("a revoked key right after revocation: %d %s", r.Status, r.Body)
	}
}

// sessionOnEveryNode checks that a session from one node is accepted by
// the other: nodes share the signing key through the database.
func sessionOnEveryNode(t *testing.T, a, b *testenv.Env) {
	pw, err := os.ReadFile(filepath.Join(a.DataDir, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	s := api(t, a, "", "POST", "/api/v1/sessions", obj{"username": "admin", "password": strings.TrimSpace(string(pw))}, 201)
	if r := b.Do("GET", "/api/v1/users/me", testenv.Bearer(str(s, "token")), nil); r.Status != 200 {
		t.Errorf("node B refuses a session node A issued: %d %s", r.Status, r.Body)
	}
	if _, err := os.Stat(filepath.Join(b.DataDir, "admin-token")); err == nil {
		t.Error("a node joining an existing database wrote an admin token")
	}
}
