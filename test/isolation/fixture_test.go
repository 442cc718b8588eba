package isolation

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

type obj = map[string]any

// victim is the tenant whose things every probe aims at.
type victim struct {
	r                                  string // the suffix of every name
	org, orgName, project, projectName string
	user, username, token, tokenID     string
	instance, volume, attached, snap   string
	export, tag, job                   string
	bucket, key, data, mpuKey, upload  string
	// uploadDrive is a CloudSigma drive an upload is filling: its first
	// chunk is in, the others are not (see uploadingDrive).
	uploadDrive              string
	s3                       aws.Credentials
	order, resource, service string
	// usage is the uuid of a Waldur component usage of the resource.
	usage       string
	serviceKeys []string
	// kmsKey is an SSE-KMS key of the project, which the object kmsObj
	// is encrypted with.
	kmsKey, kmsObj string
	// hook is the name of a webhook the project registered for event
	// notifications, hookSecret its signing secret.
	hook, hookSecret string
}

// notifyLoopback lets webhooks be registered to loopback addresses, so
// the victim and the team can have notification targets.
func notifyLoopback(c *config.Config) { c.NotifyAllow = []string{"127.0.0.1"} }

// intruder is a user who must not reach the victim's things. Own
// resources are there so probes can also try to mix theirs with the
// victim's (attach my instance to your volume, copy your object into my
// bucket).
type intruder struct {
	label                           string
	user, username, password, token string
	project, instance, volume       string
	bucket, key, upload             string
	s3                              aws.Credentials
	hpcaiCookie                     string
	// secrets are strings this intruder must never read in a response.
	secrets []string
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// api calls the native API and checks the status.
func api(t *testing.T, e *testenv.Env, tok, method, path string, body any, want int) obj {
	t.Helper()
	r := e.Do(method, path, testenv.Bearer(tok), body)
	if r.Status != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	out := obj{}
	if len(r.Body) > 0 && r.Body[0] == '{' {
		r.JSON(t, &out)
	}
	return out
}

func str(o obj, path ...string) string {
	var v any = o
	for _, k := range path {
		m, _ := v.(obj)
		v = m[k]
	}
	s, _ := v.(string)
	return s
}

func waitStatus(t *testing.T, e *testenv.Env, tok, path, want string) obj {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		o := api(t, e, tok, "GET", path, nil, 200)
		if str(o, "status") == want || str(o, "state") == want {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %s: %v", path, want, o)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newUser makes a user as the admin and returns its id and a fresh API
// token of its own.
func newUser(t *testing.T, e *testenv.Env, name, password string) (id, token string) {
	t.Helper()
	u := api(t, e, e.AdminToken, "POST", "/api/v1/users", obj{"username": name, "password": password}, 201)
	s := e.Do("POST", "/api/v1/sessions", "", obj{"username": name, "password": password})
	var sess struct{ Token string }
	s.JSON(t, &sess)
	tok := api(t, e, sess.Token, "POST", "/api/v1/tokens", obj{"name": "cli"}, 201)
	return str(u, "id"), str(tok, "token")
}

// setUp builds the victim and two intruders: one from another
// organisation, one with a project of its own inside the victim's
// organisation.
func setUp(t *testing.T, e *testenv.Env) (*victim, []*intruder) {
	t.Helper()
	r := randomHex(4)
	v := &victim{r: r, username: "victim-" + r, orgName: "org-victim-" + r, projectName: "proj-victim-" + r}
	var unbound string
	v.user, unbound = newUser(t, e, v.username, "pw-victim-"+r)
	v.org = str(api(t, e, e.AdminToken, "POST", "/api/v1/organisations", obj{"name": v.orgName}, 201), "id")
	api(t, e, e.AdminToken, "POST", "/api/v1/organisations/"+v.org+"/members", obj{"user_id": v.user, "role": "owner"}, 201)
	v.project = str(api(t, e, unbound, "POST", "/api/v1/projects", obj{"organisation_id": v.org, "name": v.projectName,
		"description": "victim-desc-" + r}, 201), "id")
	tok := api(t, e, unbound, "POST", "/api/v1/tokens", obj{"name": "victim-token-" + r, "project_id": v.project}, 201)
	v.token, v.tokenID = str(tok, "token"), str(tok, "id")

	xeno := &intruder{label: "other-organisation", username: "xeno-" + r, password: "pw-xeno-" + r}
	xeno.user, xeno.token = newUser(t, e, xeno.username, xeno.password)
	xorg := str(api(t, e, e.AdminToken, "POST", "/api/v1/organisations", obj{"name": "org-xeno-" + r}, 201), "id")
	api(t, e, e.AdminToken, "POST", "/api/v1/organisations/"+xorg+"/members", obj{"user_id": xeno.user, "role": "owner"}, 201)
	xeno.project = str(api(t, e, xeno.token, "POST", "/api/v1/projects", obj{"organisation_id": xorg, "name": "proj-xeno-" + r}, 201), "id")

	yuri := &intruder{label: "other-project-same-organisation", username: "yuri-" + r, password: "pw-yuri-" + r}
	yuri.user, yuri.token = newUser(t, e, yuri.username, yuri.password)
	yuri.project = str(api(t, e, unbound, "POST", "/api/v1/projects", obj{"organisation_id": v.org, "name": "proj-yuri-" + r}, 201), "id")
	api(t, e, unbound, "POST", "/api/v1/projects/"+yuri.project+"/members", obj{"user_id": yuri.user, "role": "admin"}, 201)
	intruders := []*intruder{xeno, yuri}

	// The victim's block side: an instance, a volume attached to it and
	// one not, a snapshot exported over NBD, a tag, drive users.
	v.tag = "00000000-7a90-4000-8000-" + randomHex(6)
	v.instance = str(api(t, e, v.token, "POST", "/api/v1/instances", obj{"project_id": v.project, "name": "victim-inst-" + r}, 201), "id")
	a := api(t, e, v.token, "POST", "/api/v1/volumes", obj{"project_id": v.project, "name": "victim-vol-" + r, "size": 1 << 30,
		"type": "ssd", "metadata": obj{"victim-mkey-" + r: "victim-mval-" + r}, "tags": []string{v.tag}, "description": "victim-vdesc-" + r}, 202)
	v.volume, v.job = str(a, "volume", "id"), str(a, "job", "id")
	v.attached = str(api(t, e, v.token, "POST", "/api/v1/volumes", obj{"project_id": v.project, "name": "victim-att-" + r, "size": 1 << 30, "type": "ssd"}, 202), "volume", "id")
	waitStatus(t, e, v.token, "/api/v1/volumes/"+v.volume, "available")
	waitStatus(t, e, v.token, "/api/v1/volumes/"+v.attached, "available")
	api(t, e, v.token, "POST", "/api/v1/volumes/"+v.attached+"/attach", obj{"instance_id": v.instance}, 202)
	waitStatus(t, e, v.token, "/api/v1/volumes/"+v.attached, "in_use")
	v.snap = str(api(t, e, v.token, "POST", "/api/v1/volumes/"+v.volume+"/snapshots", obj{"name": "victim-snap-" + r}, 202), "snapshot", "id")
	waitStatus(t, e, v.token, "/api/v1/snapshots/"+v.snap, "available")
	v.export = str(api(t, e, v.token, "POST", "/api/v1/snapshots/"+v.snap+"/exports", nil, 201), "id")
	if rr := e.DoHeaders("POST", "/api/2.0/driveusers/", http.Header{"Authorization": {"Bearer " + v.token}},
		obj{"drive": v.volume, "amount": 3}); rr.Status != 201 {
		t.Fatalf("driveusers: %d %s", rr.Status, rr.Body)
	}
	v.uploadDrive = uploadingDrive(t, e, v.token, "victim-upl-"+r)

	// The object side: a bucket with an object and a multipart upload in
	// progress, an S3 key, and an object-storage service from an order.
	v.bucket, v.key, v.mpuKey, v.data = "victim-bkt-"+r, "victim-key-"+r, "victim-mpu-"+r, "VICTIM-DATA-"+r
	api(t, e, v.token, "POST", "/api/v1/projects/"+v.project+"/buckets", obj{"name": v.bucket}, 201)
	c := api(t, e, v.token, "POST", "/api/v1/projects/"+v.project+"/credentials", obj{"description": "victim-cred-" + r}, 201)
	v.s3 = aws.Credentials{AccessKeyID: str(c, "access_key_id"), SecretAccessKey: str(c, "secret_access_key")}
	if v.s3.AccessKeyID == "" || v.s3.SecretAccessKey == "" {
		t.Fatalf("credential response %v", c)
	}
	mustS3(t, e.S3(&v.s3, "PUT", "/"+v.bucket+"/"+v.key, "", nil, []byte(v.data)), 200)
	v.kmsKey = str(api(t, e, v.token, "POST", "/api/v1/projects/"+v.project+"/kms-keys", obj{"alias": "victim-kms-" + r, "description": "victim-kdesc-" + r}, 201), "id")
	v.kmsObj = "victim-kmsobj-" + r
	mustS3(t, e.S3(&v.s3, "PUT", "/"+v.bucket+"/"+v.kmsObj, "", http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"},
		"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": {v.kmsKey}}, []byte(v.data)), 200)
	v.upload = startUpload(t, e, &v.s3, v.bucket, v.mpuKey)
	v.hook = "victim-hook-" + r
	v.hookSecret = str(api(t, e, v.token, "POST", "/api/v1/projects/"+v.project+"/notification-targets",
		obj{"name": v.hook, "url": "http://127.0.0.1:9/" + v.hook}, 201), "secret")

	offering, plan := objectStorageOffering(t, e, v.token)
	o := api(t, e, v.token, "POST", "/api/v1/orders", obj{"project_id": v.project, "offering_id": offering, "plan_id": plan,
		"attributes": obj{"name": "victim-os-" + r}, "limits": obj{"storage": 1}}, 201)
	v.order = str(o, "id")
	done := waitStatus(t, e, v.token, "/api/v1/orders/"+v.order, "done")
	v.resource = str(done, "resource_id")
	for _, s := range listItems(t, e, v.token, "/api/v1/object-storage") {
		v.service = str(s, "id")
	}
	if v.resource == "" || v.service == "" {
		t.Fatalf("order gave resource %q, service %q: %v", v.resource, v.service, done)
	}
	v.usage = componentUsage(t, e, v.token, v.resource)
	for _, c := range listItems(t, e, v.token, "/api/v1/object-storage/"+v.service+"/credentials") {
		v.serviceKeys = append(v.serviceKeys, str(c, "access_key_id"))
	}

	// The intruders' own things.
	for _, in := range intruders {
		in.instance = str(api(t, e, in.token, "POST", "/api/v1/instances", obj{"project_id": in.project, "name": "own-inst-" + r}, 201), "id")
		in.volume = str(api(t, e, in.token, "POST", "/api/v1/volumes", obj{"project_id": in.project, "name": "own-vol-" + r, "size": 1 << 30, "type": "ssd"}, 202), "volume", "id")
		waitStatus(t, e, in.token, "/api/v1/volumes/"+in.volume, "available")
		in.bucket, in.key = "own-"+in.username, "own-key"
		api(t, e, in.token, "POST", "/api/v1/projects/"+in.project+"/buckets", obj{"name": in.bucket}, 201)
		c := api(t, e, in.token, "POST", "/api/v1/projects/"+in.project+"/credentials", nil, 201)
		in.s3 = aws.Credentials{AccessKeyID: str(c, "access_key_id"), SecretAccessKey: str(c, "secret_access_key")}
		in.upload = startUpload(t, e, &in.s3, in.bucket, in.key)
		lr := e.DoHeaders("POST", "/api/user/login", nil, obj{"username": in.username, "password": in.password})
		for _, ck := range (&http.Response{Header: lr.Header}).Cookies() {
			if ck.Name == "AccessToken" {
				in.hpcaiCookie = ck.Value
			}
		}
		if in.hpcaiCookie == "" {
			t.Fatalf("HPC-AI login for %s: %d %s", in.username, lr.Status, lr.Body)
		}
	}

	// What each intruder must never read. Ids appear dashed and as
	// Waldur's undashed hex.
	common := []string{v.projectName, "victim-desc-" + r, v.tokenID, "victim-token-" + r,
		v.instance, "victim-inst-" + r, v.volume, "victim-vol-" + r, "victim-vdesc-" + r, "victim-mkey-" + r, "victim-mval-" + r,
		v.attached, "victim-att-" + r, v.snap, "victim-snap-" + r, v.export, v.tag, v.job,
		v.bucket, v.key, v.mpuKey, v.data, v.upload, v.s3.AccessKeyID, v.s3.SecretAccessKey, "victim-cred-" + r,
		v.order, v.resource, v.service, "victim-os-" + r, v.token, v.uploadDrive, "victim-upl-" + r, v.usage,
		v.kmsKey, "victim-kms-" + r, "victim-kdesc-" + r, v.kmsObj, v.hook, v.hookSecret}
	common = append(common, v.serviceKeys...)
	for _, id := range []string{v.project, v.instance, v.volume, v.attached, v.snap, v.export, v.job, v.order, v.resource, v.service, v.uploadDrive} {
		common = append(common, id, strings.ReplaceAll(id, "-", ""))
	}
	xeno.secrets = append(common, v.org, strings.ReplaceAll(v.org, "-", ""), v.orgName, v.user, v.username,
		yuri.username, yuri.project, "proj-yuri-"+r)
	yuri.secrets = common
	return v, intruders
}

// An upload image is uploadChunks chunks of uploadChunk bytes; the
// probes aim at chunks that are not in, so that a write that got through
// would show in the victim's state.
const (
	uploadChunk  = 64
	uploadChunks = 4
)

// uploadingDrive starts a CloudSigma upload into a new drive of the
// token's account, sends its first chunk, and returns the drive's uuid.
func uploadingDrive(t *testing.T, e *testenv.Env, tok, name string) string {
	t.Helper()
	auth := http.Header{"Authorization": {"Bearer " + tok}}
	r := e.DoHeaders("POST", "/api/2.0/initupload/", auth, obj{"name": name, "size": uploadChunk * uploadChunks, "media": "disk"})
	var d struct {
		Objects []struct{ UUID, Status string }
	}
	if r.Status != 201 || json.Unmarshal(r.Body, &d) != nil || len(d.Objects) != 1 || d.Objects[0].Status != "uploading" {
		t.Fatalf("initupload: %d %s", r.Status, r.Body)
	}
	id := d.Objects[0].UUID
	if r := e.DoHeaders("POST", fmt.Sprintf("/api/2.0/drives/%s/upload/0-%d/", id, uploadChunk), auth, chunkBytes); r.Status != 200 {
		t.Fatalf("first chunk: %d %s", r.Status, r.Body)
	}
	return id
}

// chunkBytes is one chunk of an upload image.
var chunkBytes = strings.Repeat("U", uploadChunk)

// resumableQuery names chunk n (from 1) of the upload image as
// resumable.js does.
func resumableQuery(n int) string {
	return fmt.Sprintf("resumableChunkNumber=%d&resumableChunkSize=%d&resumableTotalSize=%d", n, uploadChunk, uploadChunk*uploadChunks)
}

// resumableForm is the multipart form resumable.js posts for chunk n.
func resumableForm(n int) (body, contentType string) {
	var b strings.Builder
	w := multipart.NewWriter(&b)
	q, _ := url.ParseQuery(resumableQuery(n))
	for _, k := range slices.Sorted(maps.Keys(q)) {
		_ = w.WriteField(k, q.Get(k))
	}
	f, _ := w.CreateFormFile("file", "blob")
	_, _ = f.Write([]byte(chunkBytes))
	_ = w.Close()
	return b.String(), w.FormDataContentType()
}

// libraryDrive has staff publish a drive of their own project as a
// CloudSigma library drive, the public image every tenant may read and
// clone, and returns its uuid once it can be cloned.
func libraryDrive(t *testing.T, e *testenv.Env) string {
	t.Helper()
	auth := http.Header{"Authorization": {"Bearer " + e.AdminToken}}
	var d struct{ Objects []struct{ UUID string } }
	r := e.DoHeaders("POST", "/api/2.0/drives/", auth, obj{"name": "lib-src-" + randomHex(4), "size": 1 << 30, "media": "disk"})
	if r.Status != 201 || json.Unmarshal(r.Body, &d) != nil || len(d.Objects) != 1 {
		t.Fatalf("library source drive: %d %s", r.Status, r.Body)
	}
	src := d.Objects[0].UUID
	waitStatus(t, e, e.AdminToken, "/api/v1/volumes/"+src, "available")
	r = e.DoHeaders("POST", "/api/2.0/libdrives/", auth, obj{"drive": src, "name": "library-" + randomHex(4), "os": "linux"})
	if r.Status != 201 || json.Unmarshal(r.Body, &d) != nil || len(d.Objects) != 1 {
		t.Fatalf("publish library drive: %d %s", r.Status, r.Body)
	}
	lib := d.Objects[0].UUID
	waitStatus(t, e, e.AdminToken, "/api/2.0/libdrives/"+lib+"/", "unmounted")
	return lib
}

func listItems(t *testing.T, e *testenv.Env, tok, path string) []obj {
	t.Helper()
	var l struct{ Items []obj }
	e.Do("GET", path, testenv.Bearer(tok), nil).JSON(t, &l)
	return l.Items
}

// componentUsage is the uuid of the first Waldur component usage of a
// marketplace resource, as its owner lists them.
func componentUsage(t *testing.T, e *testenv.Env, tok, resource string) string {
	t.Helper()
	r := e.Do("GET", "/api/marketplace-component-usages/?resource_uuid="+strings.ReplaceAll(resource, "-", ""), "Token "+tok, nil)
	var l []obj
	r.JSON(t, &l)
	if r.Status != 200 || len(l) == 0 || str(l[0], "uuid") == "" {
		t.Fatalf("component usages of %s: %d %s", resource, r.Status, r.Body)
	}
	return str(l[0], "uuid")
}

func objectStorageOffering(t *testing.T, e *testenv.Env, tok string) (offering, plan string) {
	t.Helper()
	for _, o := range listItems(t, e, tok, "/api/v1/offerings") {
		if str(o, "kind") == "object_storage" {
			plans := listItems(t, e, tok, "/api/v1/offerings/"+str(o, "id")+"/plans")
			if len(plans) == 0 {
				t.Fatal("object storage offering has no plan")
			}
			return str(o, "id"), str(plans[0], "id")
		}
	}
	t.Fatal("no object storage offering")
	return "", ""
}

func mustS3(t *testing.T, r testenv.Response, want int) testenv.Response {
	t.Helper()
	if r.Status != want {
		t.Fatalf("S3 status %d, want %d: %s", r.Status, want, r.Body)
	}
	return r
}

// startUpload begins a multipart upload with one part and returns its id.
func startUpload(t *testing.T, e *testenv.Env, creds *aws.Credentials, bucket, key string) string {
	t.Helper()
	r := mustS3(t, e.S3(creds, "POST", "/"+bucket+"/"+key, "uploads=", nil, nil), 200)
	var res struct{ UploadId string }
	if err := xml.Unmarshal(r.Body, &res); err != nil || res.UploadId == "" {
		t.Fatalf("CreateMultipartUpload: %v %s", err, r.Body)
	}
	mustS3(t, e.S3(creds, "PUT", "/"+bucket+"/"+key, "partNumber=1&uploadId="+res.UploadId, nil, []byte("part-one")), 200)
	return res.UploadId
}

// state is what the victim can see of their own things, compared before
// and after the intruders' attempts.
func state(t *testing.T, e *testenv.Env, v *victim) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []string{"/api/v1/volumes", "/api/v1/snapshots", "/api/v1/instances", "/api/v1/snapshots/" + v.snap + "/exports",
		"/api/v1/projects/" + v.project, "/api/v1/projects/" + v.project + "/members", "/api/v1/organisations/" + v.org + "/members",
		"/api/v1/projects/" + v.project + "/buckets", "/api/v1/projects/" + v.project + "/credentials", "/api/v1/projects/" + v.project + "/quotas",
		"/api/v1/projects/" + v.project + "/kms-keys", "/api/v1/projects/" + v.project + "/notification-targets",
		"/api/v1/orders", "/api/v1/resources", "/api/v1/object-storage", "/api/v1/jobs?limit=1000", "/api/2.0/driveusers/",
		"/api/2.0/profile/"} {
		r := e.Do("GET", p, testenv.Bearer(v.token), nil)
		var o any
		_ = json.Unmarshal(r.Body, &o)
		b.WriteString(p + " " + http.StatusText(r.Status) + " ")
		stripVolatile(o)
		j, _ := json.Marshal(o)
		b.Write(j)
		b.WriteByte('\n')
	}
	// Which chunks of the victim's upload are in.
	for n := 1; n <= uploadChunks; n++ {
		p := "/api/2.0/drives/" + v.uploadDrive + "/upload/?" + resumableQuery(n)
		r := e.Do("GET", p, testenv.Bearer(v.token), nil)
		b.WriteString(p + " " + http.StatusText(r.Status) + "\n")
	}
	for _, q := range []struct{ method, path, query string }{
		{"GET", "/" + v.bucket + "/" + v.key, ""}, {"GET", "/" + v.bucket, "list-type=2"}, {"GET", "/" + v.bucket + "/" + v.mpuKey, "uploadId=" + v.upload},
		{"GET", "/" + v.bucket, "acl="}, {"GET", "/" + v.bucket, "policy="}, {"GET", "/" + v.bucket, "cors="}, {"GET", "/" + v.bucket + "/" + v.key, "tagging="},
		{"GET", "/" + v.bucket + "/" + v.key, "acl="}, {"GET", "/" + v.bucket, "versioning="}, {"GET", "/" + v.bucket, "publicAccessBlock="},
		{"GET", "/" + v.bucket + "/" + v.kmsObj, ""},
	} {
		r := e.S3(&v.s3, q.method, q.path, q.query, nil, nil)
		body := string(r.Body)
		// Error bodies carry per-request ids.
		if i := strings.Index(body, "<RequestId>"); i >= 0 {
			body = body[:i]
		}
		b.WriteString(q.path + "?" + q.query + " " + http.StatusText(r.Status) + " " + body + "\n")
	}
	return b.String()
}

// stripVolatile drops fields that change without anyone acting on the
// resource: the victim's own token use and the ages of jobs' leases.
func stripVolatile(v any) {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range []string{"last_used_at", "heartbeat_at", "lease_until", "request_id"} {
			delete(x, k)
		}
		for _, c := range x {
			stripVolatile(c)
		}
	case []any:
		for _, c := range x {
			stripVolatile(c)
		}
	}
}
