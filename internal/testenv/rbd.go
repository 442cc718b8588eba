//go:build ceph

package testenv

import (
	"errors"
	"testing"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"
)

// RBDImages lists the images in the test cluster's pool and its RBD
// trash, to show that volumes live there and not on the node's disk.
func RBDImages(t testing.TB) []string {
	t.Helper()
	io := rbdPool(t)
	names, err := rbd.GetImageNames(io)
	if err != nil {
		t.Fatal(err)
	}
	trash, err := rbd.GetTrashList(io)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range trash {
		names = append(names, e.Name)
	}
	return names
}

// RBDParent names the image the test cluster's image reads through, or
// is "" when it has no parent (never had one, or was flattened).
func RBDParent(t testing.TB, image string) string {
	t.Helper()
	io := rbdPool(t)
	img, err := rbd.OpenImageReadOnly(io, image, rbd.NoSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	p, err := img.GetParent()
	if errors.Is(err, rbd.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return p.Image.ImageName
}

// rbdPool opens the test cluster's RBD pool as client.stowage until the
// test ends.
func rbdPool(t testing.TB) *rados.IOContext {
	t.Helper()
	conn, err := rados.NewConnWithUser("stowage")
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.ReadConfigFile(CephConf(t)); err != nil {
		conn.Shutdown()
		t.Fatal(err)
	}
	if err := conn.Connect(); err != nil {
		conn.Shutdown()
		t.Fatal(err)
	}
	io, err := conn.OpenIOContext("stowage-volumes")
	if err != nil {
		conn.Shutdown()
		t.Fatal(err)
	}
	t.Cleanup(func() { io.Destroy(); conn.Shutdown() })
	return io
}
