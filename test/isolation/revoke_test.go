package isolation

import (
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stowage/stowage/internal/testenv"
)

// TestRevocationIsImmediate checks that taking access away works on the
// very next request, whatever the S3 path caches: a revoked key, and a
// bucket made private again.
func TestRevocationIsImmediate(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { revocation(t, testenv.Start(t)) })
	if os.Getenv("TEST_PG_DSN") != "" {
		t.Run("postgres", func(t *testing.T) { revocation(t, testenv.Start(t, testenv.Postgres(t))) })
	}
}

func revocation(t *testing.T, e *testenv.Env) {
	admin := testenv.Bearer(e.AdminToken)
	var ps struct{ Items []struct{ ID string } }
	e.Do("GET", "/api/v1/projects", admin, nil).JSON(t, &ps)
	project := ps.Items[0].ID
	api(t, e, e.AdminToken, "POST", "/api/v1/projects/"+project+"/buckets", obj{"name": "revoke-" + randomHex(4)}, 201)
	var bs struct{ Items []struct{ Name string } }
	e.Do("GET", "/api/v1/projects/"+project+"/buckets", admin, nil).JSON(t, &bs)
	bucket := bs.Items[0].Name
	c := api(t, e, e.AdminToken, "POST", "/api/v1/projects/"+project+"/credentials", nil, 201)
	creds := &aws.Credentials{AccessKeyID: str(c, "access_key_id"), SecretAccessKey: str(c, "secret_access_key")}

	for range 3 { // warm whatever the S3 path keeps
		mustS3(t, e.S3(creds, "PUT", "/"+bucket+"/k", "", nil, []byte("data")), 200)
	}
	// Public through the native API (the bucket ACL: anyone may list),
	// then private again.
	api(t, e, e.AdminToken, "PATCH", "/api/v1/projects/"+project+"/buckets/"+bucket, obj{"public": true}, 200)
	for range 3 {
		mustS3(t, e.S3(nil, "GET", "/"+bucket, "list-type=2", nil, nil), 200)
	}
	api(t, e, e.AdminToken, "PATCH", "/api/v1/projects/"+project+"/buckets/"+bucket, obj{"public": false}, 200)
	if r := e.S3(nil, "GET", "/"+bucket, "list-type=2", nil, nil); r.Status != 403 {
		t.Errorf("anonymous listing right after the bucket was made private: %d %s", r.Status, r.Body)
	}
	// Readable through an S3 bucket policy, then the policy deleted.
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + bucket + `/*"}]}`
	mustS3(t, e.S3(creds, "PUT", "/"+bucket, "policy=", nil, []byte(policy)), 204)
	for range 3 {
		mustS3(t, e.S3(nil, "GET", "/"+bucket+"/k", "", nil, nil), 200)
	}
	mustS3(t, e.S3(creds, "DELETE", "/"+bucket, "policy=", nil, nil), 204)
	if r := e.S3(nil, "GET", "/"+bucket+"/k", "", nil, nil); r.Status != 403 {
		t.Errorf("anonymous GET right after the policy was deleted: %d %s", r.Status, r.Body)
	}
	if r := e.Do("DELETE", "/api/v1/projects/"+project+"/credentials/"+creds.AccessKeyID, admin, nil); r.Status != 204 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if r := e.S3(creds, "GET", "/"+bucket+"/k", "", nil, nil); r.Status != 403 {
		t.Errorf("a revoked key right after revocation: %d %s", r.Status, r.Body)
	}
}
