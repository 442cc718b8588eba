//go:build ceph

package server_test

import (
	"testing"
	"time"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

// TestCephMeteringCountsBlockBytes is the block half of
// TestMeteringCountsBlockAndFileBytes on RBD, whose exports start reads
// and writes from the NBD request loop and count them when librbd
// completes them.
func TestCephMeteringCountsBlockBytes(t *testing.T) {
	e := testenv.Start(t, testenv.Ceph(t), func(c *config.Config) { c.MeterFlush = 100 * time.Millisecond })
	admin := testenv.Bearer(e.AdminToken)
	project, inst := meteredInstance(t, e)
	vol := meterBlockIO(t, e, project, inst)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b := usage(t, e, admin, vol)
		if b["nbd_bytes_written"] == "0.003906" && b["nbd_bytes_read"] == "0.001953" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("block volume usage %v", b)
		}
	}
}
