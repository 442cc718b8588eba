//go:build ceph

package testenv

import (
	"testing"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"
)

// RBDImages lists the images in the test cluster's pool and its RBD
// trash, to show that volumes live there and not on the node's disk.
func RBDImages(t testing.TB) []string {
	t.Helper()
	conn, err := rados.NewConnWithUser("stowage")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Shutdown()
	if err := conn.ReadConfigFile(CephConf(t)); err != nil {
		t.Fatal(err)
	}
	if err := conn.Connect(); err != nil {
		t.Fatal(err)
	}
	io, err := conn.OpenIOContext("stowage-volumes")
	if err != nil {
		t.Fatal(err)
	}
	defer io.Destroy()
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
