package cloudsigma_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

// chunkLink asks where chunk n goes; it returns the status and the link.
func chunkLink(t *testing.T, e *testenv.Env, auth, id string, n, size int) (int, string, any) {
	t.Helper()
	st, body := call(t, e, "POST", "drives/"+id+"/action/?do=upload_chunk", auth, obj{"chunk_number": n, "chunk_size": size})
	if st != 200 {
		return st, "", body
	}
	return st, body.(obj)["link"].(string), body
}

// repeatReader yields n bytes of b without holding them.
type repeatReader struct {
	b byte
	n int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), r.n)
	for i := range p[:k] {
		p[i] = r.b
	}
	r.n -= k
	return int(k), nil
}

// TestDriveUpload: initupload makes an uploading drive of the image's
// exact size; chunks go in any order through the links upload_chunk
// hands out; a chunk already in answers 416, which is how a client
// resumes; a chunk of the wrong length is refused and not counted; when
// every byte is in the drive is unmounted and holds the image.
func TestDriveUpload(t *testing.T) { onBothEngines(t, driveUpload) }

func driveUpload(t *testing.T, e *testenv.Env) {
	auth := admin(e)
	const chunk = 1 << 20
	// Three chunks; the last takes the rest, so it is 1 MiB + 512.
	image := bytes.Join([][]byte{bytes.Repeat([]byte{0x11}, chunk), bytes.Repeat([]byte{0x22}, chunk), bytes.Repeat([]byte{0x33}, chunk+512)}, nil)
	part := func(n int) []byte { return image[n*chunk : min((n+1)*chunk, len(image))] }
	part2 := image[2*chunk:]

	st, body := call(t, e, "POST", "initupload/", auth, obj{"name": "Upload_2026-12-02 07:00:00", "size": len(image), "media": "disk"})
	mustStatus(t, st, body, 201)
	d := objects(t, body)[0]
	id := d["uuid"].(string)
	if d["status"] != "uploading" || d["size"] != float64(len(image)) {
		t.Fatalf("initupload: %v", d)
	}

	st, link, body := chunkLink(t, e, auth, id, 1, chunk)
	if st != 200 || !strings.HasPrefix(link, "/api/2.0/drives/"+id+"/upload/") {
		t.Fatalf("link: %d %v", st, body)
	}
	r := e.DoHeaders("POST", link, http.Header{"Authorization": {auth}, "Content-Type": {"application/octet-stream"}}, part(1))
	if r.Status != 200 {
		t.Fatalf("chunk 1: %d %s", r.Status, r.Body)
	}
	st, _, body = chunkLink(t, e, auth, id, 1, chunk)
	wantErr(t, st, body, 416, "validation", "chunk_number")
	if msg := body.([]any)[0].(obj)["error_message"].(string); !strings.Contains(msg, "1") || !strings.Contains(msg, "already uploaded") {
		t.Errorf("416 message %q", msg)
	}
	// Sending chunk 1 again is refused too.
	r = e.DoHeaders("POST", link, http.Header{"Authorization": {auth}}, part(1))
	if r.Status != 416 {
		t.Fatalf("chunk 1 again: %d %s", r.Status, r.Body)
	}
	d = waitStatus(t, e, auth, id, "uploading")

	// A short chunk 0 is refused and not counted: its link is still given.
	_, link0, _ := chunkLink(t, e, auth, id, 0, chunk)
	r = e.DoHeaders("POST", link0, http.Header{"Authorization": {auth}}, part(0)[:chunk/2])
	if r.Status != 400 {
		t.Fatalf("short chunk: %d %s", r.Status, r.Body)
	}
	// Out of range, a bad body, a drive not uploading.
	st, _, body = chunkLink(t, e, auth, id, 3, chunk)
	wantErr(t, st, body, 400, "validation", "chunk_number")
	st, body = call(t, e, "POST", "drives/"+id+"/action/?do=upload_chunk", auth, obj{"chunk_size": chunk})
	wantErr(t, st, body, 400, "validation", "chunk_number")

	// Resume as the client does: ask for every chunk, send those not in.
	sent := 0
	for n := range 3 {
		st, link, body := chunkLink(t, e, auth, id, n, chunk)
		if st == 416 {
			continue
		}
		mustStatus(t, st, body, 200)
		data := part(n)
		if n == 2 {
			data = part2
		}
		if r := e.DoHeaders("POST", link, http.Header{"Authorization": {auth}}, data); r.Status != 200 {
			t.Fatalf("chunk %d: %d %s", n, r.Status, r.Body)
		}
		sent++
	}
	if sent != 2 {
		t.Fatalf("resumed with %d chunks, want 2", sent)
	}
	d = waitStatus(t, e, auth, id, "unmounted")
	if d["size"] != float64(len(image)) {
		t.Fatalf("uploaded drive size %v", d["size"])
	}
	uri := mountOn(t, e, auth, id)
	qemuIO(t, uri, "read -P 0x11 0 1M", "read -P 0x22 1M 1M", fmt.Sprintf("read -P 0x33 2M %d", chunk+512))
	st, _, body = chunkLink(t, e, auth, id, 0, chunk)
	wantErr(t, st, body, 403, "permission", "")

	// An upload not finished can be deleted.
	st, body = call(t, e, "POST", "initupload/", auth, obj{"name": "gone", "size": 4 * mib, "media": "cdrom"})
	mustStatus(t, st, body, 201)
	gone := objects(t, body)[0]["uuid"].(string)
	if r := e.Do("DELETE", "/api/2.0/drives/"+gone+"/", auth, nil); r.Status != 204 {
		t.Fatalf("delete uploading: %d %s", r.Status, r.Body)
	}
	waitGone(t, e, auth, gone)
}

// TestDriveUploadQuotaAndStreaming: the whole image is reserved against
// the quota when the upload starts; a chunk streams into the drive without
// the server holding it (the process allocates far less than the chunk).
func TestDriveUploadQuotaAndStreaming(t *testing.T) {
	e := testenv.Start(t)
	auth := admin(e)
	var projects struct {
		Items []struct{ ID string } `json:"items"`
	}
	e.Do("GET", "/api/v1/projects", testenv.Bearer(e.AdminToken), nil).JSON(t, &projects)
	if len(projects.Items) == 0 {
		t.Fatal("no project")
	}
	if r := e.Do("PUT", "/api/v1/projects/"+projects.Items[0].ID+"/quotas", testenv.Bearer(e.AdminToken), obj{"storage_bytes": 100 * mib}); r.Status != 200 {
		t.Fatalf("quota: %d %s", r.Status, r.Body)
	}
	st, body := call(t, e, "POST", "initupload/", auth, obj{"name": "big", "size": 101 * mib, "media": "disk"})
	wantErr(t, st, body, 403, "permission", "")
	st, body = call(t, e, "GET", "drives/?limit=0", auth, nil)
	if st != 200 || len(objects(t, body)) != 0 {
		t.Fatalf("a refused upload left a drive: %v", body)
	}

	const size = 64 << 20
	st, body = call(t, e, "POST", "initupload/", auth, obj{"name": "stream", "size": size, "media": "disk"})
	mustStatus(t, st, body, 201)
	id := objects(t, body)[0]["uuid"].(string)
	st, link, body := chunkLink(t, e, auth, id, 0, size)
	mustStatus(t, st, body, 200)
	req, err := http.NewRequest("POST", e.URL(link), &repeatReader{b: 0x7e, n: size})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/octet-stream")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	if resp.StatusCode != 200 {
		t.Fatalf("stream chunk: %d", resp.StatusCode)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Errorf("the server allocated %d bytes for a %d-byte chunk: it was buffered, not streamed", alloc, size)
	}
	waitStatus(t, e, auth, id, "unmounted")
	qemuIO(t, mountOn(t, e, auth, id), "read -P 0x7e 0 64M")
}

// TestDriveUploadWhole: CloudSigma's one-request upload, as curl sends it:
// the body is the image, Content-Length the size, the answer the uuid.
func TestDriveUploadWhole(t *testing.T) {
	e := testenv.Start(t)
	auth := admin(e)
	image := append(bytes.Repeat([]byte{0x44}, 2<<20), bytes.Repeat([]byte{0x55}, 512)...)
	r := e.DoHeaders("POST", "/api/2.0/drives/upload/", http.Header{"Authorization": {auth}, "Content-Type": {"application/octet-stream"}}, image)
	id := strings.TrimSpace(string(r.Body))
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") || len(id) != 36 {
		t.Fatalf("upload: %d %v %q", r.Status, r.Header, r.Body)
	}
	d := waitStatus(t, e, auth, id, "unmounted")
	if d["size"] != float64(len(image)) || d["media"] != "disk" {
		t.Fatalf("uploaded drive %v", d)
	}
	qemuIO(t, mountOn(t, e, auth, id), "read -P 0x44 0 2M", "read -P 0x55 2M 512")

	// Without a Content-Length the size is unknown: 411, and no drive.
	req, err := http.NewRequest("POST", e.URL("/api/2.0/drives/upload/"), io.MultiReader(bytes.NewReader(image)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusLengthRequired {
		t.Fatalf("chunked upload: %d", resp.StatusCode)
	}
	st, body := call(t, e, "GET", "drives/?limit=0", auth, nil)
	if st != 200 || len(objects(t, body)) != 1 {
		t.Fatalf("drives after a refused upload: %v", body)
	}
}

// TestDriveUploadResumable: the resumable.js protocol pycloudsigma's
// resumable upload speaks: GET tells whether a chunk is in (200) or not
// (404), POST sends it as a multipart form; chunks count from 1, the last
// takes the rest, a chunk sent twice is a success and counted once.
func TestDriveUploadResumable(t *testing.T) {
	e := testenv.Start(t)
	auth := admin(e)
	const chunk = 1 << 20
	image := append(bytes.Repeat([]byte{0x61}, chunk), bytes.Repeat([]byte{0x62}, chunk+1024)...)
	st, body := call(t, e, "POST", "initupload/", auth, obj{"objects": []obj{{"name": "resumable", "size": len(image), "media": "disk"}}})
	mustStatus(t, st, body, 201)
	id := objects(t, body)[0]["uuid"].(string)
	params := func(n int) string {
		return fmt.Sprintf("resumableChunkNumber=%d&resumableChunkSize=%d&resumableTotalSize=%d&resumableIdentifier=img&resumableFilename=img", n, chunk, len(image))
	}
	test := func(n int) int {
		return e.Do("GET", "/api/2.0/drives/"+id+"/upload/?"+params(n), auth, nil).Status
	}
	send := func(n int, data []byte) testenv.Response {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for _, kv := range strings.Split(params(n), "&") {
			k, v, _ := strings.Cut(kv, "=")
			if err := mw.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
		fw, err := mw.CreateFormFile("file", "img")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := mw.Close(); err != nil {
			t.Fatal(err)
		}
		return e.DoHeaders("POST", "/api/2.0/drives/"+id+"/upload/", http.Header{"Authorization": {auth}, "Content-Type": {mw.FormDataContentType()}}, b.Bytes())
	}
	if test(2) != 404 {
		t.Fatalf("chunk 2 before upload: %d", test(2))
	}
	if r := send(2, image[chunk:]); r.Status != 200 {
		t.Fatalf("chunk 2: %d %s", r.Status, r.Body)
	}
	if test(2) != 200 || test(1) != 404 {
		t.Fatalf("after chunk 2: test(2)=%d test(1)=%d", test(2), test(1))
	}
	if r := send(2, image[chunk:]); r.Status != 200 {
		t.Fatalf("chunk 2 again: %d %s", r.Status, r.Body)
	}
	// A wrong total or chunk number is refused; the drive still uploads.
	r := e.Do("GET", "/api/2.0/drives/"+id+"/upload/?"+strings.Replace(params(1), fmt.Sprint(len(image)), "7", 1), auth, nil)
	if r.Status != 400 {
		t.Fatalf("wrong total: %d %s", r.Status, r.Body)
	}
	if test(3) != 400 {
		t.Fatalf("chunk 3: %d", test(3))
	}
	waitStatus(t, e, auth, id, "uploading")
	if r := send(1, image[:chunk]); r.Status != 200 {
		t.Fatalf("chunk 1: %d %s", r.Status, r.Body)
	}
	waitStatus(t, e, auth, id, "unmounted")
	qemuIO(t, mountOn(t, e, auth, id), "read -P 0x61 0 1M", fmt.Sprintf("read -P 0x62 1M %d", chunk+1024))
}
