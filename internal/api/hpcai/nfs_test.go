package hpcai_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func must(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := run(name, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

func writeLocal(t *testing.T, dir, name string, n int) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// attach attaches a volume to the instance and returns its NFS URI.
func attach(t *testing.T, e *testenv.Env, volumeID, instanceID string) string {
	t.Helper()
	r := e.Do("POST", "/api/v1/volumes/"+volumeID+"/attach", testenv.Bearer(e.AdminToken), obj{"instance_id": instanceID})
	if r.Status != 202 && r.Status != 200 {
		t.Fatalf("attach: %d %s", r.Status, r.Body)
	}
	v := e.WaitVolume(volumeID, "in_use")
	ci := v["attachments"].([]any)[0].(obj)["connection_info"].(obj)
	if ci["driver"] != "nfs" || !strings.HasPrefix(ci["uri"].(string), "nfs://"+e.Addrs.NFS+"/fs-") {
		t.Fatalf("connection_info %v (nfs listener %s)", ci, e.Addrs.NFS)
	}
	return ci["uri"].(string)
}

func TestFilesystemVolumeOverNFS(t *testing.T) {
	testFilesystemVolumeOverNFS(t, func(t *testing.T, e *testenv.Env, id string) {
		if _, err := os.Stat(filepath.Join(e.DataDir, "filesystems", id)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the deleted volume's directory: %v", err)
		}
	})
}

// testFilesystemVolumeOverNFS is the life of filesystem volumes over NFS
// with libnfs's tools, on the store opts choose; gone checks that a
// deleted volume left nothing in that store.
func testFilesystemVolumeOverNFS(t *testing.T, gone func(t *testing.T, e *testenv.Env, id string), opts ...testenv.Option) {
	for _, tool := range []string{"nfs-cp", "nfs-ls", "nfs-cat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing (make test-deps installs libnfs-utils): %v", tool, err)
		}
	}
	e := testenv.Start(t, opts...)
	tmp := t.TempDir()
	admin := testenv.Bearer(e.AdminToken)
	pw, _ := os.ReadFile(filepath.Join(e.DataDir, "admin-password"))
	tok := login(t, e, "admin", strings.TrimSpace(string(pw)))
	_, regions := post(t, e, "/api/region/list", tok, obj{})
	region := regions["regionList"].([]any)[0].(obj)["id"].(string)

	// Created through HPC-AI's API, attached through the native one.
	_, created := post(t, e, "/api/storage/volume/create", tok, obj{"name": "shared", "sizeGB": 1, "region": region, "volumeType": "filesystem"})
	id := created["volume"].(obj)["id"].(string)
	e.WaitVolume(id, "available")
	var in, projects obj
	e.Do("GET", "/api/v1/projects", admin, nil).JSON(t, &projects)
	project := projects["items"].([]any)[0].(obj)["id"]
	e.Do("POST", "/api/v1/instances", admin, obj{"name": "hpc-node-1", "project_id": project}).JSON(t, &in)
	uri := attach(t, e, id, in["id"].(string))

	small := []byte("results of run 42\n")
	smallPath := filepath.Join(tmp, "small.txt")
	os.WriteFile(smallPath, small, 0o644)
	bigPath, big := writeLocal(t, tmp, "big.bin", 5<<20+321)
	must(t, "nfs-cp", smallPath, testenv.LibnfsURL(t, uri, "/small.txt"))
	must(t, "nfs-cp", bigPath, testenv.LibnfsURL(t, uri, "/big.bin"))
	if got := must(t, "nfs-cat", testenv.LibnfsURL(t, uri, "/small.txt")); got != string(small) {
		t.Fatalf("nfs-cat: %q", got)
	}
	back := filepath.Join(tmp, "back.bin")
	must(t, "nfs-cp", testenv.LibnfsURL(t, uri, "/big.bin"), back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, big) {
		t.Fatal("big.bin came back different")
	}
	ls := must(t, "nfs-ls", testenv.LibnfsURL(t, uri, ""))
	if !strings.Contains(ls, "small.txt") || !strings.Contains(ls, "big.bin") {
		t.Fatalf("nfs-ls:\n%s", ls)
	}

	_, d := post(t, e, "/api/storage/volume/detail", tok, obj{"volumeId": id})
	if v := d["volume"].(obj); v["status"] != "InUse" || v["usageGB"] != float64(1) {
		t.Fatalf("detail after writing: %v", v)
	}
	// The data, and per file at most an inode, a name and the rest of
	// its last block (the local store counts what it costs on disk,
	// Ceph the contents).
	data := float64(len(small) + len(big))
	allocatedWithin(t, e, id, data, data+2*(256+24+4096))
	if status, body := post(t, e, "/api/storage/volume/delete", tok, obj{"volumeId": id}); status != 409 {
		t.Fatalf("delete while attached: %d %v", status, body)
	}

	// A small filesystem volume: writes beyond its quota fail and lose
	// nothing; extending it while attached lets them through.
	var small8 obj
	r := e.Do("POST", "/api/v1/volumes", admin, obj{"name": "scratch", "size": 8 << 20, "type": "filesystem", "project_id": project})
	if r.Status != 202 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &small8)
	sid := small8["volume"].(obj)["id"].(string)
	e.WaitVolume(sid, "available")
	suri := attach(t, e, sid, in["id"].(string))
	firstPath, first := writeLocal(t, tmp, "first.bin", 6<<20)
	must(t, "nfs-cp", firstPath, testenv.LibnfsURL(t, suri, "/first.bin"))
	overPath, _ := writeLocal(t, tmp, "over.bin", 4<<20)
	if out, err := run("nfs-cp", overPath, testenv.LibnfsURL(t, suri, "/over.bin")); err == nil {
		t.Fatalf("a copy beyond the quota succeeded: %s", out)
	}
	os.Remove(back)
	must(t, "nfs-cp", testenv.LibnfsURL(t, suri, "/first.bin"), back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, first) {
		t.Fatal("first.bin damaged by the failed copy")
	}
	allocatedWithin(t, e, sid, 6<<20, 8<<20)
	if r = e.Do("POST", "/api/v1/volumes/"+sid+"/extend", admin, obj{"size": 16 << 20}); r.Status != 202 && r.Status != 200 {
		t.Fatalf("extend: %d %s", r.Status, r.Body)
	}
	e.WaitVolume(sid, "in_use")
	must(t, "nfs-cp", overPath, testenv.LibnfsURL(t, suri, "/over2.bin"))

	// Detached, the export is gone at once.
	if r := e.Do("POST", "/api/v1/volumes/"+sid+"/detach", admin, obj{"instance_id": in["id"]}); r.Status != 202 && r.Status != 200 {
		t.Fatalf("detach: %d %s", r.Status, r.Body)
	}
	e.WaitVolume(sid, "available")
	if out, err := run("nfs-cat", testenv.LibnfsURL(t, suri, "/first.bin")); err == nil {
		t.Fatalf("detached export still served: %q", out[:min(len(out), 40)])
	}
	// Filesystem volumes are not NBD exports, nor snapshotted.
	if r := e.Do("POST", "/api/v1/volumes/"+id+"/snapshots", admin, obj{"name": "s"}); r.Status != 400 {
		t.Fatalf("snapshot of a filesystem volume: %d %s", r.Status, r.Body)
	}

	// Deleting a volume removes its files from the store.
	if r := e.Do("DELETE", "/api/v1/volumes/"+sid, admin, nil); r.Status != 202 && r.Status != 204 && r.Status != 200 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	for deadline := time.Now().Add(20 * time.Second); e.Do("GET", "/api/v1/volumes/"+sid, admin, nil).Status != 404; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the deleted volume is still listed")
		}
	}
	gone(t, e, sid)
}

// allocatedWithin waits until the volume's allocated_bytes is in [lo, hi]:
// Ceph counts what its MDS has heard of, a moment after the writes.
func allocatedWithin(t *testing.T, e *testenv.Env, id string, lo, hi float64) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		var v obj
		e.Do("GET", "/api/v1/volumes/"+id, testenv.Bearer(e.AdminToken), nil).JSON(t, &v)
		a, _ := v["allocated_bytes"].(float64)
		if a >= lo && a <= hi {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("allocated_bytes %v outside [%v, %v]", a, lo, hi)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
