package native_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/stowage/stowage/internal/testenv"
)

type fioResult struct {
	Jobs []struct {
		Read  fioRate `json:"read"`
		Write fioRate `json:"write"`
	} `json:"jobs"`
}

type fioRate struct {
	IOPS float64 `json:"iops"`
	BW   float64 `json:"bw_bytes"`
}

func fio(t *testing.T, uri, rw string, args ...string) fioResult {
	t.Helper()
	if _, err := exec.LookPath("fio"); err != nil {
		t.Fatalf("fio is not installed (apt-get install fio): %v", err)
	}
	base := []string{"--name=qos", "--ioengine=nbd", "--uri=" + uri, "--rw=" + rw, "--time_based", "--runtime=3",
		"--ramp_time=1", "--output-format=json"}
	out, err := exec.Command("fio", append(base, args...)...).Output()
	if err != nil {
		t.Fatalf("fio: %v\n%s", err, out)
	}
	// fio prints a banner line before the JSON.
	if i := bytes.IndexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	var r fioResult
	if err := json.Unmarshal(out, &r); err != nil || len(r.Jobs) != 1 {
		t.Fatalf("fio output: %v\n%s", err, out)
	}
	return r
}

// TestQoS measures with fio through NBD that an hdd volume (1000 IOPS,
// 100 MiB/s) is held to its type's limits, in reads and writes: never more
// than 10% over them (the burst is a tenth of a second, spent in fio's
// ramp), and never stalled (a wait that never ends moves nothing). How
// fast this machine reads is not the test's business, so beyond that the
// figures are logged, not asserted. The requests take the NBD server's
// fast paths (cached reads served by the request loop on the thin pool,
// requests started from it on RBD), which must keep to the limits too.
func TestQoS(t *testing.T) { testQoS(t, thinPool) }

func testQoS(t *testing.T, b backend) {
	// Mostly fio's time-based runs: other tests go on meanwhile.
	t.Parallel()
	e := b.start(t)
	c := client{t: t, e: e, auth: testenv.Bearer(e.AdminToken)}
	prj := c.project()
	vm := c.instance(prj, "vm")
	v := c.createVolume(map[string]any{"project_id": prj, "name": "slow", "size": 64 * mib, "type": "hdd"})
	att := c.attach(v.ID, vm)
	mustQemuIO(t, att.ConnectionInfo.URI, "write -P 0x5a 0 64M")

	for _, rw := range []string{"randread", "randwrite"} {
		r := fio(t, att.ConnectionInfo.URI, rw, "--bs=4k", "--iodepth=16")
		iops := r.Jobs[0].Read.IOPS + r.Jobs[0].Write.IOPS
		t.Logf("hdd 4 KiB %s: %.0f IOPS (limit 1000)", rw, iops)
		if iops > 1100 || iops <= 0 {
			t.Fatalf("%s: measured %.0f IOPS, want at most 1000 + 10%% (and some progress)", rw, iops)
		}
	}
	r := fio(t, att.ConnectionInfo.URI, "randread", "--bs=1m", "--iodepth=4")
	mibps := r.Jobs[0].Read.BW / mib
	t.Logf("hdd 1 MiB random reads: %.1f MiB/s (limit 100)", mibps)
	if mibps > 110 || mibps <= 0 {
		t.Fatalf("measured %.1f MiB/s, want at most 100 + 10%% (and some progress)", mibps)
	}
}
