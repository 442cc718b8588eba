package hostile

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/s3"
	"github.com/stowage/stowage/internal/testenv"
)

// writeRoutes are the management routes that take a body, with their
// path parameters set to things the admin owns, so that a body gets past
// the lookup and into the dialect's decoding and the core's rules.
func writeRoutes(t testing.TB, e *testenv.Env) []string {
	t.Helper()
	project, _ := admin(t, e)
	r := e.Do("POST", "/api/v1/volumes", testenv.Bearer(e.AdminToken), obj{"project_id": project, "name": "fuzz", "size": 1 << 20, "type": "ssd"})
	var a struct{ Volume, Job struct{ ID string } }
	r.JSON(t, &a)
	for deadline := time.Now().Add(20 * time.Second); ; {
		var v struct{ Status string }
		e.Do("GET", "/api/v1/volumes/"+a.Volume.ID, testenv.Bearer(e.AdminToken), nil).JSON(t, &v)
		if v.Status == "available" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("volume never available")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var snap struct{ Snapshot struct{ ID string } }
	e.Do("POST", "/api/v1/volumes/"+a.Volume.ID+"/snapshots", testenv.Bearer(e.AdminToken), obj{"name": "fuzz"}).JSON(t, &snap)
	var inst struct{ ID string }
	e.Do("POST", "/api/v1/instances", testenv.Bearer(e.AdminToken), obj{"project_id": project, "name": "fuzz"}).JSON(t, &inst)
	ids := map[string]string{
		"volumes": a.Volume.ID, "drives": a.Volume.ID, "openstack-volumes": a.Volume.ID, "driveusers": a.Volume.ID,
		"snapshots": snap.Snapshot.ID, "openstack-snapshots": snap.Snapshot.ID,
		"instances": inst.ID, "servers": inst.ID, "projects": project, "jobs": a.Job.ID,
	}
	var out []string
	for _, pattern := range e.Routes {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok || method == "GET" || method == "DELETE" {
			continue
		}
		segs := strings.Split(strings.TrimSuffix(path, "{$}"), "/")
		for i, s := range segs {
			if strings.HasPrefix(s, "{") {
				id, ok := ids[segs[i-1]]
				if !ok {
					id = "00000000-0000-7000-8000-000000000000"
				}
				if s == "{action}" {
					id = "extend"
				}
				segs[i] = id
			}
		}
		out = append(out, method+" "+strings.Join(segs, "/"))
	}
	return out
}

// FuzzAPIBodies sends arbitrary bodies to every management route that
// takes one, on every face: JSON decoding, field checks and the core's
// rules must answer 4xx or succeed, never 5xx.
func FuzzAPIBodies(f *testing.F) {
	e := testenv.Start(f)
	routes := writeRoutes(f, e)
	for i := range routes {
		f.Add(uint16(i), []byte(`{}`))
	}
	for _, s := range []string{`{"name":"n","size":1048576,"type":"ssd"}`, `{"objects":[{"name":"n","size":1048576,"media":"disk"}]}`,
		`{"size":2097152}`, `{"disk_size":2048}`, `{"sizeGB":1,"name":"x","volumeType":"highspeedstorage"}`, `[{"uuid":"x"}]`,
		`{"limits":{"storage":1},"attributes":{"name":"x"}}`, `{"name":"a\u0000","metadata":{"k":null}}`, `{"drives":[{"drive":1}]}`} {
		f.Add(uint16(0), []byte(s))
	}
	auth := http.Header{"Authorization": {"Bearer " + e.AdminToken}}
	waldur := http.Header{"Authorization": {"Token " + e.AdminToken}}
	f.Fuzz(func(t *testing.T, route uint16, body []byte) {
		e := e.WithT(t)
		method, path, _ := strings.Cut(routes[int(route)%len(routes)], " ")
		h := auth
		if strings.HasPrefix(path, "/api/") && !strings.HasPrefix(path, "/api/v1/") && !strings.HasPrefix(path, "/api/2.0/") &&
			!strings.HasPrefix(path, "/api/storage/") && !strings.HasPrefix(path, "/api/region/") && !strings.HasPrefix(path, "/api/user/") {
			h = waldur
		}
		if r := e.DoHeaders(method, path, h, body); r.Status >= 500 {
			t.Fatalf("%s %s %q: %d %.300s", method, path, body, r.Status, r.Body)
		}
	})
}

// FuzzS3Bodies sends arbitrary bodies to every S3 operation that takes
// one (XML documents, policies, object data), signed, at a bucket and an
// upload the caller owns.
func FuzzS3Bodies(f *testing.F) {
	e := testenv.Start(f)
	_, creds := admin(f, e)
	bucket := "fuzz-" + fmt.Sprint(time.Now().UnixNano()%1e6)
	e.S3(creds, "PUT", "/"+bucket, "", nil, nil)
	e.S3(creds, "PUT", "/"+bucket+"/k", "", nil, []byte("data"))
	var u struct{ UploadId string }
	xml.Unmarshal(e.S3(creds, "POST", "/"+bucket+"/mpu", "uploads=", nil, nil).Body, &u)
	var ops []s3.Route
	for _, rt := range s3.Routes() {
		if (rt.Method == "PUT" || rt.Method == "POST") && rt.Op != "NotImplemented" {
			ops = append(ops, rt)
		}
	}
	// One seed per operation, plus a well-formed body for each operation
	// that parses one (and one hostile DTD).
	for i := range ops {
		f.Add(uint8(i), []byte{})
	}
	for op, body := range map[string]string{
		"PutBucketCors":           `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>-1</MaxAgeSeconds></CORSRule></CORSConfiguration>`,
		"PutObjectTagging":        `<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>`,
		"DeleteObjects":           `<Delete><Quiet>true</Quiet><Object><Key>k</Key><VersionId>null</VersionId></Object></Delete>`,
		"CompleteMultipartUpload": `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>`,
		"PutBucketVersioning":     `<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>`,
		"PutBucketPolicy":         `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/*"],"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`,
		"PutBucketAcl":            `<AccessControlPolicy><Owner><ID>x</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>`,
		"CreateBucket":            `<CreateBucketConfiguration><LocationConstraint>local-1</LocationConstraint></CreateBucketConfiguration>`,
		"PutPublicAccessBlock":    `<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><PublicAccessBlockConfiguration>&b;</PublicAccessBlockConfiguration>`,
	} {
		i := slices.IndexFunc(ops, func(r s3.Route) bool { return r.Op == op })
		if i < 0 {
			f.Fatalf("no S3 operation %s", op)
		}
		f.Add(uint8(i), []byte(body))
	}
	if i := slices.IndexFunc(ops, func(r s3.Route) bool { return r.Op == "PutBucketNotificationConfiguration" }); i >= 0 {
		f.Add(uint8(i), []byte(`<NotificationConfiguration><TopicConfiguration><Id>x</Id><Topic>arn:stowage:sns:local-1:p:hook</Topic>`+
			`<Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>a/</Value></FilterRule></S3Key></Filter>`+
			`</TopicConfiguration></NotificationConfiguration>`))
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		e := e.WithT(t)
		rt := ops[int(op)%len(ops)]
		path := "/" + bucket
		if rt.Scope == s3.ObjectScope {
			path += "/mpu"
		}
		query := testenv.S3Query(rt, u.UploadId, "1")
		h := http.Header{}
		if rt.Header != "" {
			h.Set(rt.Header, "/"+bucket+"/k")
		}
		sum := md5.Sum(body)
		h.Set("Content-Md5", base64.StdEncoding.EncodeToString(sum[:]))
		if r := e.S3(creds, rt.Method, path, query, h, body); r.Status >= 500 && r.Status != 501 {
			t.Fatalf("%s %s?%s %q: %d %.300s", rt.Op, path, query, body, r.Status, r.Body)
		}
	})
}
