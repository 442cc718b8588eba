package server_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

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
