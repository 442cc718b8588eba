package cloudsigma_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

func qemuImg(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestDriveUploadQcow2: a qcow2 image made by qemu-img and uploaded
// through CloudSigma's upload routes (initupload with chunks, the
// header's chunk not last; and the one-request upload) becomes a drive of
// the image's virtual size holding its disk, not the file: qemu-img
// compare of the reference disk against the drive's NBD export. A raw
// image stays raw, byte for byte; a qcow2 the importer refuses (a backing
// file) leaves the drive unavailable.
func TestDriveUploadQcow2(t *testing.T) {
	e := testenv.Start(t)
	auth := admin(e)
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.raw")
	qemuImg(t, "create", "-f", "raw", ref, "24M")
	qemuIO(t, ref, "write -P 0x5a 0 1M", "write -P 0x5b 7M 300k", "write -P 0x5c 23M 1M")
	plain, packed := filepath.Join(dir, "disk.qcow2"), filepath.Join(dir, "packed.qcow2")
	qemuImg(t, "convert", "-f", "raw", "-O", "qcow2", ref, plain)
	qemuImg(t, "convert", "-f", "raw", "-O", "qcow2", "-c", ref, packed)
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	check := func(id string, want int64, image, format string) {
		t.Helper()
		d := waitStatus(t, e, auth, id, "unmounted")
		if d["size"] != float64(want) {
			t.Fatalf("drive %s of %v bytes, want %d", id, d["size"], want)
		}
		uri := mountOn(t, e, auth, id)
		if out, err := exec.Command("qemu-img", "compare", "-f", format, "-F", "raw", image, uri).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img compare %s with drive %s: %v\n%s", image, id, err, out)
		}
	}

	// Chunks 0, 2, then 1: the last piece reads the header back.
	img := read(packed)
	chunk := len(img) / 3 // three chunks, the last takes the rest
	st, body := call(t, e, "POST", "initupload/", auth, obj{"name": "packed", "size": len(img), "media": "disk"})
	mustStatus(t, st, body, 201)
	id := objects(t, body)[0]["uuid"].(string)
	for _, n := range []int{0, 2, 1} {
		_, link, body := chunkLink(t, e, auth, id, n, chunk)
		if link == "" {
			t.Fatalf("chunk %d: %v", n, body)
		}
		end := (n + 1) * chunk
		if n == 2 {
			end = len(img)
		}
		if r := e.DoHeaders("POST", link, http.Header{"Authorization": {auth}}, img[n*chunk:end]); r.Status != 200 {
			t.Fatalf("chunk %d: %d %s", n, r.Status, r.Body)
		}
	}
	check(id, 24*mib, ref, "raw")

	// The one-request upload, as curl sends it.
	whole := func(image []byte) string {
		t.Helper()
		r := e.DoHeaders("POST", "/api/2.0/drives/upload/", http.Header{"Authorization": {auth}, "Content-Type": {"application/octet-stream"}}, image)
		if r.Status != 200 {
			t.Fatalf("upload: %d %s", r.Status, r.Body)
		}
		return strings.TrimSpace(string(r.Body))
	}
	id = whole(read(plain))
	check(id, 24*mib, ref, "raw")
	// The quota holds the disk's size, not the file's.
	var v struct {
		ProjectID string `json:"project_id"`
		Size      int64  `json:"size"`
	}
	e.Do("GET", "/api/v1/volumes/"+id, testenv.Bearer(e.AdminToken), nil).JSON(t, &v)
	var q struct {
		Usage struct {
			StorageBytes int64 `json:"storage_bytes"`
		} `json:"usage"`
	}
	e.Do("GET", "/api/v1/projects/"+v.ProjectID+"/quotas", testenv.Bearer(e.AdminToken), nil).JSON(t, &q)
	if v.Size != 24*mib || q.Usage.StorageBytes < 2*24*mib {
		t.Fatalf("volume %+v, project usage %d bytes after two 24 MiB disks", v, q.Usage.StorageBytes)
	}

	// Raw stays raw: even a raw image holding a qcow2 file further in.
	rawImg := append(read(ref)[:2*mib], read(plain)...)
	rawImg = rawImg[:len(rawImg)/512*512]
	if err := os.WriteFile(filepath.Join(dir, "raw.img"), rawImg, 0o600); err != nil {
		t.Fatal(err)
	}
	check(whole(rawImg), int64(len(rawImg)), filepath.Join(dir, "raw.img"), "raw")

	// A qcow2 with a backing file is not imported.
	bad := filepath.Join(dir, "backed.qcow2")
	qemuImg(t, "create", "-f", "qcow2", "-b", ref, "-F", "raw", bad)
	id = whole(read(bad))
	d := waitStatus(t, e, auth, id, "unavailable")
	t.Logf("backed qcow2: %v", d["status"])
	st, body = call(t, e, "GET", fmt.Sprintf("drives/%s/", id), auth, nil)
	mustStatus(t, st, body, 200)
}
