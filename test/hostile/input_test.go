package hostile

import (
	"encoding/xml"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stowage/stowage/internal/testenv"
)

// engines runs body on the embedded SQLite and, when TEST_PG_DSN is set,
// on PostgreSQL, whose TEXT refuses bytes SQLite stores.
func engines(t *testing.T, body func(t *testing.T, e *testenv.Env)) {
	t.Run("sqlite", func(t *testing.T) { body(t, testenv.Start(t)) })
	if os.Getenv("TEST_PG_DSN") != "" {
		t.Run("postgres", func(t *testing.T) { body(t, testenv.Start(t, testenv.Postgres(t))) })
	}
}

type obj = map[string]any

// admin returns the default project and S3 credentials of the admin.
func admin(t testing.TB, e *testenv.Env) (project string, creds *aws.Credentials) {
	t.Helper()
	var ps struct{ Items []struct{ ID string } }
	e.Do("GET", "/api/v1/projects", testenv.Bearer(e.AdminToken), nil).JSON(t, &ps)
	project = ps.Items[0].ID
	r := e.Do("POST", "/api/v1/projects/"+project+"/credentials", testenv.Bearer(e.AdminToken), nil)
	var c struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	r.JSON(t, &c)
	return project, &aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}
}

// escape percent-encodes every byte but unreserved ones and "/", so any
// byte string reaches the server as the key.
func escape(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func noServerError(t *testing.T, what string, r testenv.Response) {
	t.Helper()
	if r.Status >= 500 && r.Status != http.StatusNotImplemented {
		t.Errorf("%s: %d: %.300s", what, r.Status, r.Body)
	}
}

// TestObjectKeys puts keys that look like paths, carry control bytes or
// sit at the length limit, and expects each to round-trip exactly (keys
// are opaque bytes) or to be refused with 400, never to touch a path
// outside the object store.
func TestObjectKeys(t *testing.T) { engines(t, testObjectKeys) }

func testObjectKeys(t *testing.T, e *testenv.Env) {
	_, creds := admin(t, e)
	bucket := "keys-" + fmt.Sprint(time.Now().UnixNano()%1e6)
	if r := e.S3(creds, "PUT", "/"+bucket, "", nil, nil); r.Status != 200 {
		t.Fatalf("create bucket: %d %s", r.Status, r.Body)
	}
	good := []string{"../x", "a/../../../../x", "a//b", "//", "/lead", "trail/", ".", "..", "./.",
		"a\r\nX-Injected: 1", "\t", "sp ace", "pl+us", "per%cent", "%2F", "q?uery=1", "h#ash", "amp&er", "ü-ñ-😀",
		"\u202eRTL", "\ufeffbom", strings.Repeat("k", 1024), strings.Repeat("€", 341) + "k"}
	bad := map[string]string{
		"1025 bytes":           strings.Repeat("k", 1025),
		"1026 bytes of runes":  strings.Repeat("€", 342),
		"invalid UTF-8":        "\xff\xfe",
		"overlong NUL":         "a\xc0\x80",
		"lone surrogate":       "a\xed\xa0\x80",
		"truncated multi-byte": "a\xe2\x82",
		// PostgreSQL cannot store NUL, so no engine takes it.
		"NUL":      "a\x00b",
		"only NUL": "\x00",
	}
	for i, key := range good {
		path := "/" + bucket + "/" + escape(key)
		data := []byte(fmt.Sprintf("data-%d", i))
		what := fmt.Sprintf("key %q", key)
		r := e.S3(creds, "PUT", path, "", nil, data)
		if r.Status != 200 {
			t.Errorf("%s: PUT %d %.300s", what, r.Status, r.Body)
			continue
		}
		if r = e.S3(creds, "GET", path, "", nil, nil); r.Status != 200 || string(r.Body) != string(data) {
			t.Errorf("%s: GET %d %q, want %q", what, r.Status, r.Body, data)
		}
		r = e.S3(creds, "GET", "/"+bucket, "list-type=2&encoding-type=url&prefix="+url.QueryEscape(key), nil, nil)
		if listed := listedKeys(t, r); len(listed) == 0 || listed[0] != key {
			t.Errorf("%s: listed as %q (%d %.200s)", what, listed, r.Status, r.Body)
		}
	}
	for what, key := range bad {
		r := e.S3(creds, "PUT", "/"+bucket+"/"+escape(key), "", nil, []byte("x"))
		if r.Status != 400 {
			t.Errorf("key of %s: PUT %d, want 400: %.300s", what, r.Status, r.Body)
		}
		for _, method := range []string{"GET", "HEAD", "DELETE"} {
			if r := e.S3(creds, method, "/"+bucket+"/"+escape(key), "", nil, nil); r.Status != 400 {
				t.Errorf("key of %s: %s %d, want 400: %.300s", what, method, r.Status, r.Body)
			}
		}
		r = e.S3(creds, "PUT", "/"+bucket+"/copy", "", http.Header{"X-Amz-Copy-Source": {"/" + bucket + "/" + escape(key)}}, nil)
		if r.Status != 400 {
			t.Errorf("copy from a key of %s: %d, want 400: %.300s", what, r.Status, r.Body)
		}
		for _, p := range []string{"prefix", "start-after", "delimiter", "continuation-token", "marker"} {
			q := "list-type=2&" + p + "=" + escape(key)
			if p == "marker" {
				q = p + "=" + escape(key)
			}
			noServerError(t, "list with "+p+" of "+what, e.S3(creds, "GET", "/"+bucket, q, nil, nil))
		}
		for _, p := range []string{"prefix", "key-marker", "upload-id-marker", "delimiter"} {
			noServerError(t, "list uploads with "+p+" of "+what, e.S3(creds, "GET", "/"+bucket, "uploads=&"+p+"="+escape(key), nil, nil))
		}
	}
	// Every good key is listed once, exactly, and no object slipped in
	// under a cleaned or truncated name.
	r := e.S3(creds, "GET", "/"+bucket, "list-type=2&encoding-type=url", nil, nil)
	if got := listedKeys(t, r); len(got) != len(good) {
		t.Errorf("bucket lists %d keys, want %d: %q", len(got), len(good), got)
	}
	for i, key := range good {
		if r := e.S3(creds, "DELETE", "/"+bucket+"/"+escape(key), "", nil, nil); r.Status != 204 {
			t.Errorf("key %d %q: DELETE %d %.200s", i, key, r.Status, r.Body)
		}
	}
	fmt.Printf("hostile (%s): %d hostile keys round-tripped byte for byte, %d refused with 400 on GET, HEAD, DELETE, copy and listings\n",
		e.Config.DatabaseDSN()[:strings.Index(e.Config.DatabaseDSN(), ":")], len(good), len(bad))
	// Keys are never paths: nothing named after a key's last element
	// exists anywhere near the data dir.
	filepath.WalkDir(filepath.Dir(e.DataDir), func(p string, d fs.DirEntry, err error) error {
		if err == nil && (d.Name() == "x" || d.Name() == "b" || d.Name() == "lead") {
			t.Errorf("a key became a file: %s", p)
		}
		return nil
	})
}

func listedKeys(t *testing.T, r testenv.Response) []string {
	t.Helper()
	var l struct {
		Contents []struct{ Key string }
	}
	if err := xml.Unmarshal(r.Body, &l); err != nil {
		t.Errorf("listing: %d %v %.300s", r.Status, err, r.Body)
		return nil
	}
	var keys []string
	for _, c := range l.Contents {
		k, err := url.QueryUnescape(c.Key)
		if err != nil {
			t.Errorf("listed key %q is not URL-encoded: %v", c.Key, err)
		}
		keys = append(keys, k)
	}
	return keys
}

// TestBucketNames tries names at the edge of every naming rule on the
// three faces that create buckets, which share one rule in the core.
func TestBucketNames(t *testing.T) {
	e := testenv.Start(t)
	project, creds := admin(t, e)
	n := fmt.Sprint(time.Now().UnixNano() % 1e6)
	long := func(k int) string { return "b" + n + strings.Repeat("x", k-1-len(n)) }
	good := []string{"b" + n[:2], long(63), "0" + n + "0", "a-b-c" + n}
	// The management faces refuse dots so that every name works in
	// virtual-hosted style over TLS; S3 takes them.
	dotted := []string{"1.2.3" + n, "a.b-c" + n}
	bad := []string{"ab", long(64), "B" + n, "b_" + n, "-b" + n, "b" + n + "-", ".b" + n, "b" + n + ".", "b.." + n, "b.-" + n,
		"b-." + n, "192.168.10.1", "ñb" + n, "b " + n, "b\x00" + n, "b/" + n, ""}
	faces := []struct {
		name   string
		create func(name string) testenv.Response
	}{
		{"s3", func(name string) testenv.Response {
			if name == "" || strings.ContainsAny(name, "/") {
				// Not a bucket path at all: the service or a key.
				return testenv.Response{Status: 400}
			}
			return e.S3(creds, "PUT", "/"+escape(name), "", nil, nil)
		}},
		{"native", func(name string) testenv.Response {
			return e.Do("POST", "/api/v1/projects/"+project+"/buckets", testenv.Bearer(e.AdminToken), obj{"name": name})
		}},
		{"wayscloud", func(name string) testenv.Response {
			return e.DoHeaders("POST", "/v1/storage/buckets", http.Header{"X-Api-Key": {e.AdminToken}}, obj{"bucket_name": name})
		}},
	}
	for fi, f := range faces {
		want := good
		if f.name == "s3" {
			want = append(want, dotted...)
		} else {
			for _, name := range dotted {
				if r := f.create(name + "d"); r.Status != 400 {
					t.Errorf("%s: %q: %d, want 400: %.200s", f.name, name+"d", r.Status, r.Body)
				}
			}
		}
		for _, name := range want {
			name := fmt.Sprintf("%s%d", name[:len(name)-1], fi)
			if r := f.create(name); r.Status != 200 && r.Status != 201 {
				t.Errorf("%s: %q (%d bytes): %d, want created: %.200s", f.name, name, len(name), r.Status, r.Body)
			}
		}
		for _, name := range bad {
			if r := f.create(name); r.Status != 400 {
				t.Errorf("%s: %q: %d, want 400: %.200s", f.name, name, r.Status, r.Body)
			}
		}
	}
}

// TestSizes sends sizes that are zero, negative, huge, fractional or not
// numbers at all to every field that takes one. Nonsense must be refused
// with a 4xx, and nothing may answer 5xx.
func TestSizes(t *testing.T) {
	e := testenv.Start(t)
	project, creds := admin(t, e)
	bearer := http.Header{"Authorization": {"Bearer " + e.AdminToken}}
	waldur := http.Header{"Authorization": {"Token " + e.AdminToken}}

	r := e.Do("POST", "/api/v1/volumes", testenv.Bearer(e.AdminToken), obj{"project_id": project, "name": "sizes", "size": 1 << 20, "type": "ssd"})
	var a struct{ Volume struct{ ID string } }
	r.JSON(t, &a)
	vol := a.Volume.ID
	for deadline := time.Now().Add(20 * time.Second); ; {
		var v struct{ Status string }
		e.Do("GET", "/api/v1/volumes/"+vol, testenv.Bearer(e.AdminToken), nil).JSON(t, &v)
		if v.Status == "available" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("volume never available")
		}
		time.Sleep(20 * time.Millisecond)
	}
	bucket := "sizes-" + fmt.Sprint(time.Now().UnixNano()%1e6)
	e.S3(creds, "PUT", "/"+bucket, "", nil, nil)
	up := e.S3(creds, "POST", "/"+bucket+"/k", "uploads=", nil, nil)
	var u struct{ UploadId string }
	xml.Unmarshal(up.Body, &u)

	nonsense := []string{"-1", "-9223372036854775808", "1.5", `"10G"`, `"1"`, "true", "[]", "{}", "1e400", "99999999999999999999999"}
	// Edges may be taken where they mean something (a zero quota, a
	// null that leaves an optional field unset); they must not crash.
	edges := []string{"0", "9223372036854775807", "1e18", "null"}
	json := []struct {
		method, path string
		h            http.Header
		body         string // $N is the size
	}{
		{"POST", "/api/v1/volumes", bearer, `{"project_id":"` + project + `","name":"n","size":$N,"type":"ssd"}`},
		{"POST", "/api/v1/volumes/" + vol + "/extend", bearer, `{"size":$N}`},
		{"PUT", "/api/v1/projects/" + project + "/quotas", bearer, `{"storage_bytes":$N}`},
		{"POST", "/api/v1/tokens", bearer, `{"name":"n","ttl_seconds":$N}`},
		{"POST", "/api/openstack-volumes/" + strings.ReplaceAll(vol, "-", "") + "/extend/", waldur, `{"disk_size":$N}`},
		{"POST", "/api/2.0/drives/", bearer, `{"objects":[{"name":"n","size":$N,"media":"disk"}]}`},
		{"POST", "/api/2.0/drives/" + vol + "/action/?do=resize", bearer, `{"size":$N}`},
		{"POST", "/api/storage/volume/create", bearer, `{"name":"n","sizeGB":$N,"region":"local-1","volumeType":"highspeedstorage"}`},
		{"POST", "/api/storage/volume/resize", bearer, `{"volumeId":"` + vol + `","sizeGB":$N}`},
	}
	for _, c := range json {
		for _, n := range append(nonsense, edges...) {
			body := strings.ReplaceAll(c.body, "$N", n)
			r := e.DoHeaders(c.method, c.path, c.h, body)
			what := fmt.Sprintf("%s %s %s", c.method, c.path, body)
			noServerError(t, what, r)
			if r.Status < 400 && !contains(edges, n) {
				t.Errorf("%s: %d, want a refusal: %.200s", what, r.Status, r.Body)
			}
		}
	}
	// Query parameters: page sizes and cursors on lists, S3 part numbers
	// and listing sizes.
	for _, n := range []string{"-1", "0", "abc", "1.5", "99999999999999999999", "9223372036854775807"} {
		for _, p := range []string{"/api/v1/volumes?limit=", "/api/v1/jobs?limit=", "/api/v1/volumes?cursor=", "/api/openstack-volumes/?page_size=",
			"/api/openstack-volumes/?page=", "/api/marketplace-orders/?page=", "/api/marketplace-resources/?page=",
			"/api/customers/?page=", "/api/2.0/drives/?limit=", "/api/2.0/drives/?offset="} {
			h := bearer
			if strings.HasPrefix(p, "/api/openstack") {
				h = waldur
			}
			noServerError(t, "GET "+p+n, e.DoHeaders("GET", p+url.QueryEscape(n), h, nil))
		}
		for _, q := range []string{"partNumber=" + n + "&uploadId=" + u.UploadId, "list-type=2&max-keys=" + n, "max-keys=" + n,
			"uploads=&max-uploads=" + n, "uploadId=" + u.UploadId + "&max-parts=" + n, "uploadId=" + u.UploadId + "&part-number-marker=" + n} {
			method, path := "GET", "/"+bucket
			if strings.HasPrefix(q, "partNumber") {
				method, path = "PUT", "/"+bucket+"/k"
			} else if strings.Contains(q, "uploadId") {
				path = "/" + bucket + "/k"
			}
			r := e.S3(creds, method, path, strings.ReplaceAll(q, n, url.QueryEscape(n)), nil, []byte("x"))
			noServerError(t, "S3 "+method+" "+path+"?"+q, r)
			if strings.HasPrefix(q, "partNumber") && r.Status < 400 && n != "0" {
				t.Errorf("part number %s: %d, want a refusal", n, r.Status)
			}
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestHeaderLimits sends S3 metadata past the 2 KB S3 allows and ranges
// that make no sense.
func TestHeaderLimits(t *testing.T) {
	e := testenv.Start(t)
	_, creds := admin(t, e)
	bucket := "hdrs-" + fmt.Sprint(time.Now().UnixNano()%1e6)
	e.S3(creds, "PUT", "/"+bucket, "", nil, nil)
	r := e.S3(creds, "PUT", "/"+bucket+"/big-meta", "", http.Header{"X-Amz-Meta-Big": {strings.Repeat("m", 3000)}}, []byte("x"))
	if r.Status != 400 || !strings.Contains(string(r.Body), "MetadataTooLarge") {
		t.Errorf("3000 bytes of metadata: %d %.300s, want 400 MetadataTooLarge", r.Status, r.Body)
	}
	e.S3(creds, "PUT", "/"+bucket+"/k", "", nil, []byte("0123456789"))
	for _, rng := range []string{"bytes=-", "bytes=5-2", "bytes=99-", "bytes=-0", "bytes=0-1,3-4", "bits=0-1", "bytes=a-b",
		"bytes=0-99999999999999999999", "bytes=" + strings.Repeat("0", 5000) + "-1"} {
		r := e.S3(creds, "GET", "/"+bucket+"/k", "", http.Header{"Range": {rng}}, nil)
		noServerError(t, "Range "+rng, r)
		if r.Status == 206 && len(r.Body) > 10 {
			t.Errorf("Range %s: %d bytes of a 10-byte object", rng, len(r.Body))
		}
	}
	for _, cl := range []string{"-1", "abc", "99999999999999999999"} {
		c := dial(t, e.Addrs.S3)
		fmt.Fprintf(c, "PUT /%s/cl HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n\r\nx", bucket, cl)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 12)
		n, _ := c.Read(buf)
		if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 4") {
			t.Errorf("Content-Length %s: %q, want a 4xx", cl, buf[:n])
		}
	}
}

// TestTextFields sends names and descriptions holding NUL, which
// PostgreSQL's TEXT refuses, and other control and format characters to
// every face that stores free text. Each must be refused or stored; never
// a 5xx.
func TestTextFields(t *testing.T) { engines(t, testTextFields) }

func testTextFields(t *testing.T, e *testenv.Env) {
	project, _ := admin(t, e)
	bearer := http.Header{"Authorization": {"Bearer " + e.AdminToken}}
	for _, text := range []string{`a\u0000b`, `\u0000`, `\ud800`, `\u001b[31mred`, `a\r\nb`, `\u202e`, `\ufffd`} {
		for _, c := range []struct {
			method, path, body string
		}{
			{"POST", "/api/v1/volumes", `{"project_id":"` + project + `","name":"$T","description":"$T","size":1048576,"type":"ssd","metadata":{"$T":"$T"},"tags":["$T"]}`},
			{"POST", "/api/v1/instances", `{"project_id":"` + project + `","name":"$T","description":"$T"}`},
			{"PATCH", "/api/v1/projects/" + project, `{"description":"$T"}`},
			{"POST", "/api/v1/tokens", `{"name":"$T"}`},
			{"POST", "/api/v1/projects/" + project + "/credentials", `{"description":"$T"}`},
			{"POST", "/api/2.0/drives/", `{"objects":[{"name":"$T","size":1048576,"media":"disk","meta":{"$T":"$T"}}]}`},
			{"POST", "/api/storage/volume/create", `{"name":"$T","sizeGB":1,"region":"local-1","volumeType":"highspeedstorage"}`},
			{"POST", "/v1/storage/buckets", `{"bucket_name":"$T"}`},
		} {
			body := strings.ReplaceAll(c.body, "$T", text)
			noServerError(t, c.method+" "+c.path+" "+body, e.DoHeaders(c.method, c.path, bearer, body))
		}
	}
}
