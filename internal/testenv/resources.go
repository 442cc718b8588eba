package testenv

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// DefaultProject is the id of the project the first start created.
func (e *Env) DefaultProject() string {
	e.T.Helper()
	var projects struct {
		Items []map[string]any `json:"items"`
	}
	e.Do("GET", "/api/v1/projects", Bearer(e.AdminToken), nil).JSON(e.T, &projects)
	for _, p := range projects.Items {
		if p["name"] == "default" {
			return p["id"].(string)
		}
	}
	e.T.Fatalf("no default project in %v", projects.Items)
	return ""
}

// AttachedVolume creates a block volume of size bytes in the default
// project, attaches it to a new instance, and returns the volume's id and
// its connection_info URI.
func (e *Env) AttachedVolume(name string, size int64) (id, uri string) {
	e.T.Helper()
	admin := Bearer(e.AdminToken)
	project := e.DefaultProject()
	var inst, created map[string]any
	r := e.Do("POST", "/api/v1/instances", admin, map[string]any{"project_id": project, "name": "vm-" + name})
	if r.Status != 201 {
		e.T.Fatalf("instance: %d %s", r.Status, r.Body)
	}
	r.JSON(e.T, &inst)
	r = e.Do("POST", "/api/v1/volumes", admin, map[string]any{"name": name, "size": size, "type": "ssd", "project_id": project})
	if r.Status != 202 {
		e.T.Fatalf("create volume: %d %s", r.Status, r.Body)
	}
	r.JSON(e.T, &created)
	id = created["volume"].(map[string]any)["id"].(string)
	e.WaitVolume(id, "available")
	if r := e.Do("POST", "/api/v1/volumes/"+id+"/attach", admin, map[string]any{"instance_id": inst["id"]}); r.Status != 202 {
		e.T.Fatalf("attach: %d %s", r.Status, r.Body)
	}
	v := e.WaitVolume(id, "in_use")
	return id, v["attachments"].([]any)[0].(map[string]any)["connection_info"].(map[string]any)["uri"].(string)
}

// ExportName is the export of an nbd:// or nbds:// URI.
func ExportName(uri string) string { return uri[strings.LastIndex(uri, "/")+1:] }

// BucketWithKey creates a bucket and an S3 access key in the default
// project and returns the key.
func (e *Env) BucketWithKey(bucket string) *aws.Credentials {
	e.T.Helper()
	admin := Bearer(e.AdminToken)
	project := e.DefaultProject()
	if r := e.Do("POST", "/api/v1/projects/"+project+"/buckets", admin, map[string]any{"name": bucket}); r.Status != 201 {
		e.T.Fatalf("bucket: %d %s", r.Status, r.Body)
	}
	var cred map[string]any
	r := e.Do("POST", "/api/v1/projects/"+project+"/credentials", admin, map[string]any{"description": "test"})
	if r.Status != 201 {
		e.T.Fatalf("credential: %d %s", r.Status, r.Body)
	}
	r.JSON(e.T, &cred)
	return &aws.Credentials{AccessKeyID: cred["access_key_id"].(string), SecretAccessKey: cred["secret_access_key"].(string)}
}
