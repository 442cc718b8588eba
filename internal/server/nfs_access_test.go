package server_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

type obj = map[string]any

// nfsVolume creates a filesystem volume, attaches it to the instance and
// returns its id and connection URI.
func nfsVolume(t *testing.T, e *testenv.Env, project, instance string) (string, string) {
	t.Helper()
	admin := testenv.Bearer(e.AdminToken)
	var created obj
	r := e.Do("POST", "/api/v1/volumes", admin, obj{"name": "files", "size": 8 << 20, "type": "filesystem", "project_id": project})
	if r.Status != 202 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &created)
	id := created["volume"].(obj)["id"].(string)
	e.WaitVolume(id, "available")
	if r := e.Do("POST", "/api/v1/volumes/"+id+"/attach", admin, obj{"instance_id": instance}); r.Status != 202 && r.Status != 200 {
		t.Fatalf("attach: %d %s", r.Status, r.Body)
	}
	v := e.WaitVolume(id, "in_use")
	return id, v["attachments"].([]any)[0].(obj)["connection_info"].(obj)["uri"].(string)
}

// owner is the uid nfs-ls shows for name ("-rw-r--r--  1  65534  65534 …").
func owner(t *testing.T, url, name string) string {
	t.Helper()
	out, err := exec.Command("nfs-ls", url).CombinedOutput()
	if err != nil {
		t.Fatalf("nfs-ls: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[len(f)-1] == name {
			return f[2]
		}
	}
	t.Fatalf("nfs-ls lacks %s:\n%s", name, out)
	return ""
}

// An NFS export serves only the addresses recorded on the instance it is
// attached to (loopback only when it has none); root is squashed to
// nobody unless the volume's metadata says nfs_allow_root=true.
func TestNFSExportAddressesAndRootSquash(t *testing.T) { testNFSExportAddressesAndRootSquash(t) }

// testNFSExportAddressesAndRootSquash runs on the filesystem volume store
// opts choose.
func testNFSExportAddressesAndRootSquash(t *testing.T, opts ...testenv.Option) {
	if _, err := exec.LookPath("nfs-ls"); err != nil {
		t.Fatalf("nfs-ls missing (make test-deps installs libnfs-utils): %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("the server must run as root to own files as its callers")
	}
	e := testenv.Start(t, opts...)
	admin := testenv.Bearer(e.AdminToken)
	var projects obj
	e.Do("GET", "/api/v1/projects", admin, nil).JSON(t, &projects)
	project := projects["items"].([]any)[0].(obj)["id"]

	r := e.Do("POST", "/api/v1/instances", admin, obj{"name": "bad", "project_id": project, "addresses": []string{"not-an-ip"}})
	if r.Status != 400 || !strings.Contains(string(r.Body), "addresses") {
		t.Fatalf("instance with a bad address: %d %s", r.Status, r.Body)
	}
	var remote, local obj
	e.Do("POST", "/api/v1/instances", admin, obj{"name": "remote", "project_id": project, "addresses": []string{"192.0.2.7", "2001:db8::/64"}}).JSON(t, &remote)
	if got := remote["addresses"]; len(got.([]any)) != 2 || got.([]any)[0] != "192.0.2.7/32" {
		t.Fatalf("instance addresses %v", got)
	}
	e.Do("POST", "/api/v1/instances", admin, obj{"name": "local", "project_id": project}).JSON(t, &local)

	_, remoteURI := nfsVolume(t, e, project.(string), remote["id"].(string))
	if out, err := exec.Command("nfs-ls", testenv.LibnfsURL(t, remoteURI, "")).CombinedOutput(); err == nil {
		t.Fatalf("an export for 192.0.2.7 served 127.0.0.1:\n%s", out)
	}

	id, uri := nfsVolume(t, e, project.(string), local["id"].(string))
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, []byte("x"), 0o644)
	asRoot := testenv.LibnfsURL(t, uri, "/by-root") + "&uid=0&gid=0"
	if out, err := exec.Command("nfs-cp", src, asRoot).CombinedOutput(); err != nil {
		t.Fatalf("nfs-cp as root from loopback: %v\n%s", err, out)
	}
	if got := owner(t, testenv.LibnfsURL(t, uri, ""), "by-root"); got != "65534" {
		t.Fatalf("root's file belongs to %s, want 65534 (squashed)", got)
	}

	if r := e.Do("PATCH", "/api/v1/volumes/"+id, admin, obj{"metadata": obj{"nfs_allow_root": "true"}}); r.Status != 200 {
		t.Fatalf("allow root: %d %s", r.Status, r.Body)
	}
	// The NFS server trusts a resolved export for two seconds; try until
	// it has seen the change.
	for i, deadline := 0, time.Now().Add(20*time.Second); ; i++ {
		name := fmt.Sprintf("root-%d", i)
		if out, err := exec.Command("nfs-cp", src, testenv.LibnfsURL(t, uri, "/"+name)+"&uid=0&gid=0").CombinedOutput(); err != nil {
			t.Fatalf("nfs-cp as root: %v\n%s", err, out)
		}
		if owner(t, testenv.LibnfsURL(t, uri, ""), name) == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("root still squashed after nfs_allow_root=true")
		}
	}
}
