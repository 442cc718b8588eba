package diskfull

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

const (
	mib       = 1 << 20
	fsSize    = 128 * mib
	ballast   = 24 * mib
	reserve   = 16 * mib
	objSize   = 4 * mib
	blockSize = mib
	enospc    = 28
)

// smallFS mounts a fresh ext4 file system of fsSize on a loop device and
// returns its mount point; it skips the test where that cannot be done
// (not root, no loop devices).
func smallFS(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small file system needs root")
	}
	for _, tool := range []string{"mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found", tool)
		}
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	mnt := t.TempDir()
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Truncate(fsSize)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot loop-mount (%v %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		for range 50 {
			if exec.Command("umount", mnt).Run() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("could not unmount %s", mnt)
	})
	return mnt
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

type obj = map[string]any

// TestDiskFull fills a node's data dir through S3 and NBD and expects
// clean refusals (507 InsufficientStorage, NBD ENOSPC), nothing lost or
// corrupted, and every face working again once space is freed, across a
// restart too. With the reserve (the default) the node refuses before
// the disk is full, and tenants free space themselves by deleting; with
// none it meets the real ENOSPC, and an operator frees space.
func TestDiskFull(t *testing.T) {
	t.Run("reserve", func(t *testing.T) { fill(t, reserve) })
	t.Run("no-reserve", func(t *testing.T) { fill(t, 0) })
}

func fill(t *testing.T, reserveBytes int64) {
	mnt := smallFS(t)
	dataDir := filepath.Join(mnt, "data")
	// A ballast file stands for whatever an operator deletes to recover.
	ballastPath := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballastPath, make([]byte, ballast), 0o600); err != nil {
		t.Fatal(err)
	}
	e := testenv.Start(t, func(c *config.Config) { c.DataDir, c.ReserveBytes = dataDir, reserveBytes })
	admin := testenv.Bearer(e.AdminToken)

	var ps struct{ Items []struct{ ID string } }
	e.Do("GET", "/api/v1/projects", admin, nil).JSON(t, &ps)
	project := ps.Items[0].ID
	if r := e.Do("POST", "/api/v1/projects/"+project+"/buckets", admin, obj{"name": "full"}); r.Status != 201 {
		t.Fatalf("bucket: %d %s", r.Status, r.Body)
	}
	var c struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	e.Do("POST", "/api/v1/projects/"+project+"/credentials", admin, nil).JSON(t, &c)
	creds := &aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}
	export := attachedVolume(t, e, project, 512*mib)

	// Fill through S3 until the store refuses.
	stored := map[string][]byte{}
	var s3Refusal testenv.Response
	for i := 0; ; i++ {
		key := fmt.Sprintf("obj-%03d", i)
		body := random(objSize)
		r := e.S3(creds, "PUT", "/full/"+key, "", nil, body)
		if r.Status == 200 {
			stored[key] = body
			continue
		}
		s3Refusal = r
		if r.Status != http.StatusInsufficientStorage || !bytes.Contains(r.Body, []byte("<Code>InsufficientStorage</Code>")) {
			t.Errorf("S3 PUT on a full disk: %d %s, want 507 InsufficientStorage", r.Status, r.Body)
		}
		if g := e.S3(creds, "GET", "/full/"+key, "", nil, nil); g.Status != 404 {
			t.Errorf("the refused object is visible: %d", g.Status)
		}
		break
	}
	objectsStored := len(stored)

	// Fill through NBD: the S3 refusal left little room, so the pool runs
	// out within a few writes.
	nbd, err := testenv.DialNBD(e.Addrs.NBD, export)
	if err != nil {
		t.Fatal(err)
	}
	written := map[uint64][]byte{}
	var nbdErr error
	for off := uint64(0); off < nbd.Size(); off += blockSize {
		b := random(blockSize)
		if nbdErr = nbd.Write(off, b, false); nbdErr == nil {
			nbdErr = nbd.Flush()
		}
		if nbdErr != nil {
			break
		}
		written[off] = b
	}
	var ne *testenv.NBDError
	if !errors.As(nbdErr, &ne) || ne.Errno != enospc {
		t.Errorf("NBD write on a full disk: %v, want ENOSPC (%d)", nbdErr, enospc)
	}
	t.Logf("S3 stored %d objects of %d MiB, then answered %d; NBD stored %d MiB, then: %v",
		objectsStored, objSize/mib, s3Refusal.Status, len(written), nbdErr)

	// Full, the node still reads everything it acknowledged, rewrites
	// blocks a volume owns, and answers the control plane cleanly.
	checkObjects(t, e, creds, stored)
	checkBlocks(t, nbd, written)
	for off := range written {
		b := random(blockSize)
		if err := nbd.Write(off, b, true); err != nil {
			t.Errorf("rewriting an allocated block on a full disk: %v", err)
		} else {
			written[off] = b
		}
		break
	}
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/projects/" + project + "/buckets", obj{"name": "while-full"}},
		{"POST", "/api/v1/volumes", obj{"project_id": project, "name": "while-full", "size": 64 * mib}},
		{"POST", "/api/v1/instances", obj{"project_id": project, "name": "while-full"}},
		{"GET", "/api/v1/volumes", nil},
	} {
		r := e.Do(req.method, req.path, admin, req.body)
		if r.Status >= 500 && r.Status != http.StatusInsufficientStorage || reserveBytes > 0 && r.Status >= 300 {
			t.Errorf("%s %s on a full disk: %d %s", req.method, req.path, r.Status, r.Body)
		}
	}

	// Free space: with a reserve, tenants delete; without, the operator
	// removes something first.
	if reserveBytes == 0 {
		if err := os.Remove(ballastPath); err != nil {
			t.Fatal(err)
		}
	}
	for key := range stored {
		if r := e.S3(creds, "DELETE", "/full/"+key, "", nil, nil); r.Status != 204 {
			t.Fatalf("DELETE %s on a full disk: %d %s", key, r.Status, r.Body)
		}
		delete(stored, key)
		if len(stored) <= 2 {
			break
		}
	}
	body := random(objSize)
	if r := e.S3(creds, "PUT", "/full/after", "", nil, body); r.Status != 200 {
		t.Fatalf("PUT after freeing space: %d %s", r.Status, r.Body)
	}
	stored["after"] = body
	off := uint64(len(written)) * blockSize
	b := random(blockSize)
	if err := nbd.Write(off, b, true); err != nil {
		t.Fatalf("NBD write after freeing space: %v", err)
	}
	written[off] = b
	nbd.Close()
	if r := e.Do("GET", "/readyz", "", nil); r.Status != 200 {
		t.Errorf("readyz after freeing space: %d", r.Status)
	}
	checkObjects(t, e, creds, stored)
	checkPools(t, e)

	// And it all survives a restart on the same data dir.
	e.Stop()
	e = testenv.StartConfig(t, e.Config)
	checkObjects(t, e, creds, stored)
	nbd, err = testenv.DialNBD(e.Addrs.NBD, export)
	if err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, nbd, written)
	nbd.Close()
	checkPools(t, e)
	fmt.Printf("diskfull (%d MiB ext4, reserve %d MiB): S3 refused with %d after %d objects of %d MiB, NBD with %v after %d MiB; "+
		"no acknowledged byte lost, fsck clean, recovered after freeing space and across a restart\n",
		fsSize/mib, reserveBytes/mib, s3Refusal.Status, objectsStored, objSize/mib, nbdErr, len(written)-1)
}

// attachedVolume makes a thin volume larger than the file system and
// attaches it, returning its NBD export name.
func attachedVolume(t *testing.T, e *testenv.Env, project string, size int64) string {
	t.Helper()
	admin := testenv.Bearer(e.AdminToken)
	var inst struct{ ID string }
	e.Do("POST", "/api/v1/instances", admin, obj{"project_id": project, "name": "vm"}).JSON(t, &inst)
	var a struct{ Volume struct{ ID string } }
	e.Do("POST", "/api/v1/volumes", admin, obj{"project_id": project, "name": "big", "size": size}).JSON(t, &a)
	id := a.Volume.ID
	wait := func(want string) (v struct {
		Status      string
		Attachments []struct {
			ConnectionInfo struct{ URI string } `json:"connection_info"`
		}
	}) {
		for deadline := time.Now().Add(30 * time.Second); ; {
			e.Do("GET", "/api/v1/volumes/"+id, admin, nil).JSON(t, &v)
			if v.Status == want {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("volume %s, want %s", v.Status, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait("available")
	if r := e.Do("POST", "/api/v1/volumes/"+id+"/attach", admin, obj{"instance_id": inst.ID}); r.Status != 202 {
		t.Fatalf("attach: %d %s", r.Status, r.Body)
	}
	uri := wait("in_use").Attachments[0].ConnectionInfo.URI
	return uri[strings.LastIndex(uri, "/")+1:]
}

func checkObjects(t *testing.T, e *testenv.Env, creds *aws.Credentials, stored map[string][]byte) {
	t.Helper()
	for key, want := range stored {
		if r := e.S3(creds, "GET", "/full/"+key, "", nil, nil); r.Status != 200 || !bytes.Equal(r.Body, want) {
			t.Errorf("%s: %d, %d bytes (want %d)", key, r.Status, len(r.Body), len(want))
		}
	}
	r := e.S3(creds, "GET", "/full", "list-type=2", nil, nil)
	var l struct {
		Contents []struct {
			Key  string
			Size int64
		}
	}
	if err := xml.Unmarshal(r.Body, &l); err != nil {
		t.Fatalf("list: %v %s", err, r.Body)
	}
	var sum int64
	for _, c := range l.Contents {
		if _, ok := stored[c.Key]; !ok {
			t.Errorf("listed %s, which was refused or deleted", c.Key)
		}
		sum += c.Size
	}
	var b struct {
		SizeBytes   int64 `json:"size_bytes"`
		ObjectCount int   `json:"object_count"`
	}
	var ps struct{ Items []struct{ ID string } }
	e.Do("GET", "/api/v1/projects", testenv.Bearer(e.AdminToken), nil).JSON(t, &ps)
	e.Do("GET", "/api/v1/projects/"+ps.Items[0].ID+"/buckets/full", testenv.Bearer(e.AdminToken), nil).JSON(t, &b)
	if b.SizeBytes != sum || b.ObjectCount != len(l.Contents) {
		t.Errorf("bucket usage %d objects, %d bytes; the listing has %d, %d", b.ObjectCount, b.SizeBytes, len(l.Contents), sum)
	}
}

func checkBlocks(t *testing.T, nbd *testenv.NBD, written map[uint64][]byte) {
	t.Helper()
	buf := make([]byte, blockSize)
	for off, want := range written {
		if err := nbd.Read(off, buf); err != nil || !bytes.Equal(buf, want) {
			t.Errorf("block at %d MiB: %v, content intact %v", off/mib, err, bytes.Equal(buf, want))
		}
	}
}

// checkPools runs the block pool's fsck and an orphan collection that
// must find nothing: failed writes clean up after themselves.
func checkPools(t *testing.T, e *testenv.Env) {
	t.Helper()
	admin := testenv.Bearer(e.AdminToken)
	var fsck struct {
		Clean    bool
		Problems []string
	}
	e.Do("POST", "/api/v1/admin/pools/block/fsck", admin, nil).JSON(t, &fsck)
	if !fsck.Clean {
		t.Errorf("fsck: %v", fsck.Problems)
	}
	var gc struct{ Removed int }
	e.Do("POST", "/api/v1/admin/pools/object/gc", admin, obj{"min_age_seconds": 0}).JSON(t, &gc)
	if gc.Removed != 0 {
		t.Errorf("%d orphan blobs or temp files left behind by refused writes", gc.Removed)
	}
}
