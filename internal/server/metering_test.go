package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/testenv"
)

// meterFlush is the counters' flush window of the test servers: what a
// kill -9 may lose.
const meterFlush = 300 * time.Millisecond

// TestMeteringSurvivesCrash runs a real `stowage serve`, counts S3 GETs
// made with a real client, and checks what survives: a SIGKILL loses at
// most the requests of the last flush window (the ones made just before
// it), never a flushed one; a SIGTERM flushes on the way out and loses
// none. Levels (the bucket's bytes) are metered too.
func TestMeteringSurvivesCrash(t *testing.T) {
	t.Setenv("STOWAGE_METER_FLUSH", meterFlush.String())
	t.Setenv("STOWAGE_METER_INTERVAL", "1s")
	bin := testenv.Build(t)
	dir, logPath := t.TempDir(), filepath.Join(t.TempDir(), "log")
	n := testenv.StartNode(t, bin, dir, logPath)
	var ps struct{ Items []item }
	n.Must("GET", "/api/v1/projects", nil, &ps)
	prj := ps.Items[0].ID
	n.Must("POST", "/api/v1/projects/"+prj+"/buckets", map[string]any{"name": "metered"}, nil)
	var key struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	n.Must("POST", "/api/v1/projects/"+prj+"/credentials", map[string]any{}, &key)
	ctx := context.Background()
	client := func(n *testenv.Node) *minio.Client {
		c, err := minio.New(n.Addrs.S3, &minio.Options{Creds: miniocreds.NewStaticV4(key.AccessKeyID, key.SecretAccessKey, ""),
			Region: "local-1", BucketLookup: minio.BucketLookupPath})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	body := bytes.Repeat([]byte("x"), 4096)
	if _, err := client(n).PutObject(ctx, "metered", "k", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	gets := func(n *testenv.Node, count int) {
		c := client(n)
		for range count {
			o, err := c.GetObject(ctx, "metered", "k", minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, o); err != nil {
				t.Fatal(err)
			}
			o.Close()
		}
	}
	counted := func(n *testenv.Node, component string) float64 {
		var out struct {
			Items []struct{ Quantity string }
		}
		n.Must("GET", "/api/v1/usage?project="+prj+"&component="+component+"&granularity=month&from=2000-01-01", nil, &out)
		sum := 0.0
		for _, p := range out.Items {
			q, err := strconv.ParseFloat(p.Quantity, 64)
			if err != nil {
				t.Fatal(err)
			}
			sum += q
		}
		return sum
	}
	waitFor := func(n *testenv.Node, component string, want float64) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); counted(n, component) != want; {
			if time.Now().After(deadline) {
				t.Fatalf("%s = %v, want %v", component, counted(n, component), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	gets(n, 100)
	waitFor(n, "s3_get_requests", 100) // flushed
	gets(n, 50)                        // within the flush window …
	n.Kill()                           // … of a kill -9
	n = testenv.StartNode(t, bin, dir, logPath)
	afterKill := counted(n, "s3_get_requests")
	if afterKill < 100 || afterKill > 150 {
		t.Fatalf("after kill -9: %v GETs counted, want 100 (flushed) to 150", afterKill)
	}
	t.Logf("kill -9 lost %v of the 50 GETs made in the last %s flush window; none of the 100 flushed before", 150-afterKill, meterFlush)

	gets(n, 30)
	n.Stop() // SIGTERM flushes
	n = testenv.StartNode(t, bin, dir, logPath)
	if got := counted(n, "s3_get_requests"); got != afterKill+30 {
		t.Errorf("after SIGTERM: %v GETs counted, want %v", got, afterKill+30)
	}
	if got := counted(n, "s3_bytes_out"); got <= 0 {
		t.Errorf("no S3 egress metered")
	}
	// The bucket has held one object since it was filled: object-hours accrue.
	for deadline := time.Now().Add(30 * time.Second); counted(n, "object_count") <= 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no object-hours metered")
		}
	}
}

// TestMeteringCountsBlockAndFileBytes writes and reads a block volume
// with qemu-io over NBD and a filesystem volume with libnfs's tools over
// NFS, and finds the bytes in the volumes' usage.
func TestMeteringCountsBlockAndFileBytes(t *testing.T) {
	for _, tool := range []string{"qemu-io", "nfs-cp", "nfs-cat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing (make test-deps installs qemu-utils and libnfs-utils): %v", tool, err)
		}
	}
	e := testenv.Start(t, func(c *config.Config) { c.MeterFlush = 100 * time.Millisecond })
	admin := testenv.Bearer(e.AdminToken)
	project, inst := meteredInstance(t, e)
	vol := meterBlockIO(t, e, project, inst)

	fsVol, fsURI := nfsVolume(t, e, project, inst)
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, bytes.Repeat([]byte("z"), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nfs-cp", src, testenv.LibnfsURL(t, fsURI, "/f")).CombinedOutput(); err != nil {
		t.Fatalf("nfs-cp: %v\n%s", err, out)
	}
	if out, err := exec.Command("nfs-cat", testenv.LibnfsURL(t, fsURI, "/f")).Output(); err != nil || len(out) != 1<<20 {
		t.Fatalf("nfs-cat: %v, %d bytes", err, len(out))
	}

	// Quantities are GiB with six places: 4 MiB is 0.003906, 2 MiB
	// 0.001953, 1 MiB 0.000977.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, f := usage(t, e, admin, vol), usage(t, e, admin, fsVol)
		if b["nbd_bytes_written"] == "0.003906" && b["nbd_bytes_read"] == "0.001953" &&
			f["nfs_bytes_written"] == "0.000977" && f["nfs_bytes_read"] == "0.000977" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("block volume usage %v, filesystem usage %v", b, f)
		}
	}
}

// meteredInstance returns the admin's first project and a new instance
// in it.
func meteredInstance(t *testing.T, e *testenv.Env) (project, inst string) {
	t.Helper()
	admin := testenv.Bearer(e.AdminToken)
	var projects, created obj
	e.Do("GET", "/api/v1/projects", admin, nil).JSON(t, &projects)
	project = projects["items"].([]any)[0].(obj)["id"].(string)
	e.Do("POST", "/api/v1/instances", admin, obj{"name": "vm", "project_id": project}).JSON(t, &created)
	return project, created["id"].(string)
}

// meterBlockIO attaches a new block volume to inst and, through its NBD
// URI with qemu-io, writes 4 MiB of it in 64 KiB requests (the writes an
// RBD export starts from the request loop) and reads 2 MiB back in 1 MiB
// requests (on the local pool from the page cache, which the request loop
// serves itself; on RBD started from it).
func meterBlockIO(t *testing.T, e *testenv.Env, project, inst string) (vol string) {
	t.Helper()
	admin := testenv.Bearer(e.AdminToken)
	var created obj
	e.Do("POST", "/api/v1/volumes", admin, obj{"name": "blocks", "size": 8 << 20, "project_id": project}).JSON(t, &created)
	vol = created["volume"].(obj)["id"].(string)
	e.WaitVolume(vol, "available")
	if r := e.Do("POST", "/api/v1/volumes/"+vol+"/attach", admin, obj{"instance_id": inst}); r.Status != 202 {
		t.Fatalf("attach: %d %s", r.Status, r.Body)
	}
	uri := e.WaitVolume(vol, "in_use")["attachments"].([]any)[0].(obj)["connection_info"].(obj)["uri"].(string)
	args := []string{"-f", "raw"}
	for off := 0; off < 4<<20; off += 64 << 10 {
		args = append(args, "-c", fmt.Sprintf("write -P 0x5a %d 64k", off))
	}
	// Half of it read back, so that a count of one direction as the other
	// shows.
	for off := 0; off < 2<<20; off += 1 << 20 {
		args = append(args, "-c", fmt.Sprintf("read -P 0x5a %d 1M", off))
	}
	if out, err := exec.Command("qemu-io", append(args, uri)...).CombinedOutput(); err != nil || bytes.Contains(out, []byte("Pattern verification failed")) {
		t.Fatalf("qemu-io: %v\n%s", err, out)
	}
	return vol
}

// usage is a resource's usage this month by component.
func usage(t *testing.T, e *testenv.Env, admin, resource string) map[string]string {
	t.Helper()
	var out struct {
		Items []struct{ Component, Quantity string }
	}
	e.Do("GET", "/api/v1/usage?resource="+resource+"&granularity=month", admin, nil).JSON(t, &out)
	m := map[string]string{}
	for _, p := range out.Items {
		m[p.Component] = p.Quantity
	}
	return m
}
