//go:build ceph

package server_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/testenv"
)

// TestCephCrashWhileJobsRun is TestCrashWhileJobsRun on RBD with the
// binary `make build-ceph` makes: after SIGKILL mid-jobs and a restart,
// every job converges (each step finds what the killed attempt made in
// the pool), every volume has its image, fsck finds every snapshot the
// index records in RBD, and deleting it all leaves none of their images.
func TestCephCrashWhileJobsRun(t *testing.T) {
	testCrashWhileJobsRun(t, testenv.BuildCeph(t), testenv.CephArgs(t), func(t *testing.T, n *testenv.Node, _ string, vols, snaps []item) {
		images := testenv.RBDImages(t)
		for _, v := range vols {
			if !slices.Contains(images, v.ID) {
				t.Errorf("volume %s (%s) has no RBD image", v.ID, v.Status)
			}
		}
		var fsck struct {
			Clean    bool     `json:"clean"`
			Problems []string `json:"problems"`
		}
		if _, err := n.Call("POST", "/api/v1/admin/pools/block/fsck", nil, &fsck); err != nil || !fsck.Clean {
			t.Fatalf("fsck: %v %+v", err, fsck)
		}
		for _, s := range snaps {
			if _, err := n.Call("DELETE", "/api/v1/snapshots/"+s.ID, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, v := range vols {
			if _, err := n.Call("DELETE", "/api/v1/volumes/"+v.ID+"?force=true", nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		for deadline := time.Now().Add(60 * time.Second); len(list(n, "/api/v1/volumes"))+len(list(n, "/api/v1/snapshots")) > 0; {
			if time.Now().After(deadline) {
				t.Fatalf("not deleted: %+v %+v", list(n, "/api/v1/volumes"), list(n, "/api/v1/snapshots"))
			}
			time.Sleep(100 * time.Millisecond)
		}
		images = testenv.RBDImages(t)
		for _, v := range append(vols, snaps...) {
			if slices.Contains(images, v.ID) {
				t.Errorf("image %s left after its volume was deleted", v.ID)
			}
		}
	})
}
