package crashloop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/internal/testenv"
)

const (
	s3Clients     = 4
	keysPerClient = 12
	mib           = 1 << 20
)

// cycles is def for `go test`, 25 under STOWAGE_SOAK=1, or
// STOWAGE_CRASH_CYCLES.
func cycles(t *testing.T, def int) int { return testenv.Cycles(t, "STOWAGE_CRASH_CYCLES", def, 25) }

// item is what the checks read of any native resource.
type item struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	State      string `json:"state"`
	Kind       string `json:"kind"`
	ResourceID string `json:"resource_id"`
}

func list(n *testenv.Node, path string) []item { return testenv.List[item](n, path) }

// fixture is what the first start sets up and every later one reuses.
type fixture struct {
	project, bucket string
	access, secret  string
	exports         [2]string // NBD export names of the two attached volumes
}

// backend is where a crash loop's node keeps its data.
type backend struct {
	name   string   // in the summary line; "" for the local pools
	bin    string   // the binary to run
	args   []string // more serve flags
	cycles int      // kill cycles of a plain `go test`
	// finish checks what the stopped node left in dir and the backend's
	// pools, given what the records name, and returns figures for the
	// summary line.
	finish func(t *testing.T, dir string, vols, snaps []item) string
}

// TestCrashLoop runs the loop on the local pools: volumes in the thin
// pool and object bodies in files under the data dir, on SQLite.
func TestCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary many times")
	}
	crashLoop(t, backend{bin: testenv.Build(t), cycles: 5, finish: func(t *testing.T, dir string, vols, snaps []item) string {
		testenv.CheckPool(t, dir, len(vols)+len(snaps))
		return ""
	}})
}

func crashLoop(t *testing.T, be backend) {
	bin := be.bin
	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "server.log")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if i := crashStart(b); i >= 0 {
				// A crash's signal, its C frame and the goroutine in
				// cgo come first in the dump; the tail is other goroutines.
				t.Logf("server crash (start):\n%s", b[i:min(len(b), i+12000)])
			}
			t.Logf("server log (tail):\n%s", tail(b, 4000))
		}
	})
	n := testenv.StartNode(t, bin, dir, logPath, be.args...)
	fx := setUp(t, n)
	objects := newS3Model()
	volumes := [2]*nbdModel{newNBDModel(0), newNBDModel(1)}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	total := cycles(t, be.cycles)
	var api apiCounts
	recoveryKills := 0
	for cycle := 1; cycle <= total; cycle++ {
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		cl := s3Client(n, fx)
		for c := range s3Clients {
			wg.Add(1)
			go func() { defer wg.Done(); s3Worker(ctx, cl, fx.bucket, objects, cycle, c) }()
		}
		for v, m := range volumes {
			wg.Add(1)
			go func() { defer wg.Done(); nbdWorker(ctx, n.Addrs.NBD, fx.exports[v], m, cycle) }()
		}
		wg.Add(1)
		go func() { defer wg.Done(); apiWorker(ctx, n, fx, cycle, &api) }()
		// Kill somewhere between the first requests and a few seconds in.
		time.Sleep(300*time.Millisecond + time.Duration(rng.Int64N(int64(2500*time.Millisecond))))
		n.Kill()
		stop()
		wg.Wait()

		restarted := time.Now()
		n = testenv.StartNode(t, bin, dir, logPath, be.args...)
		if cycle%4 == 2 {
			// Now and then, crash again while the node recovers: start-up
			// GC, lease recovery and the pool's replay must survive it.
			time.Sleep(time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
			n.Kill()
			recoveryKills++
			n = testenv.StartNode(t, bin, dir, logPath, be.args...)
		}
		verify(t, n, fx, objects, volumes)
		t.Logf("cycle %d: restart and checks took %v", cycle, time.Since(restarted).Round(time.Millisecond))
		t.Logf("cycle %d: S3 %d acknowledged, %d verified, %d lost; NBD %d durable writes, %d verified, %d lost", cycle,
			objects.acked, objects.verified, objects.lost, volumes[0].durableWrites+volumes[1].durableWrites,
			volumes[0].verified+volumes[1].verified, volumes[0].lost+volumes[1].lost)
		if t.Failed() {
			break
		}
	}
	settling := time.Now()
	settle(t, n)
	t.Logf("jobs left by the kills settled in %v", time.Since(settling).Round(time.Millisecond))
	checkFsck(t, n, "once every job settled")
	vols, snaps := list(n, "/api/v1/volumes"), list(n, "/api/v1/snapshots")
	n.Stop()
	figures := be.finish(t, dir, vols, snaps)
	name := "crashloop"
	if be.name != "" {
		name += " (" + be.name + ")"
	}
	fmt.Printf("%s: %d cycles (%d more kills during recovery); S3: %d writes acknowledged, %d keys verified, %d lost; "+
		"NBD: %d writes acknowledged before a completed FLUSH or with FUA, %d blocks verified, %d lost (%d torn); "+
		"API: %d volume/snapshot/clone/delete/order requests accepted%s\n",
		name, total, recoveryKills, objects.acked, objects.verified, objects.lost,
		volumes[0].durableWrites+volumes[1].durableWrites, volumes[0].verified+volumes[1].verified,
		volumes[0].lost+volumes[1].lost, volumes[0].corrupt+volumes[1].corrupt, api.accepted, figures)
}

// crashStart is where the first report of a crash begins in a server
// log (Go's, or a C library's abort), or -1.
func crashStart(b []byte) int {
	first := -1
	for _, m := range []string{"panic: ", "fatal error: ", "SIGSEGV", "SIGABRT", "terminate called", "Assertion `"} {
		if i := bytes.Index(b, []byte(m)); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	if first > 0 {
		first = bytes.LastIndexByte(b[:first], '\n') + 1
	}
	return first
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func setUp(t *testing.T, n *testenv.Node) fixture {
	var fx fixture
	var ps struct{ Items []item }
	n.Must("GET", "/api/v1/projects", nil, &ps)
	fx.project = ps.Items[0].ID
	fx.bucket = "crashloop"
	n.Must("POST", "/api/v1/projects/"+fx.project+"/buckets", map[string]any{"name": fx.bucket}, nil)
	var c struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	n.Must("POST", "/api/v1/projects/"+fx.project+"/credentials", nil, &c)
	fx.access, fx.secret = c.AccessKeyID, c.SecretAccessKey
	var inst item
	n.Must("POST", "/api/v1/instances", map[string]any{"project_id": fx.project, "name": "crashloop"}, &inst)
	for i := range fx.exports {
		var a struct{ Volume item }
		n.Must("POST", "/api/v1/volumes", map[string]any{"project_id": fx.project, "name": fmt.Sprint("nbd-", i), "size": 64 * mib}, &a)
		waitStatus(t, n, "/api/v1/volumes/"+a.Volume.ID, "available")
		n.Must("POST", "/api/v1/volumes/"+a.Volume.ID+"/attach", map[string]any{"instance_id": inst.ID}, nil)
		v := waitStatus(t, n, "/api/v1/volumes/"+a.Volume.ID, "in_use")
		uri := v.Attachments[0].ConnectionInfo.URI
		fx.exports[i] = uri[strings.LastIndex(uri, "/")+1:]
	}
	return fx
}

type volumeJSON struct {
	item
	Attachments []struct {
		ConnectionInfo struct{ URI string } `json:"connection_info"`
	}
}

func waitStatus(t *testing.T, n *testenv.Node, path, want string) volumeJSON {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		var v volumeJSON
		n.Must("GET", path, nil, &v)
		if v.Status == want {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s, want %s", path, v.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func s3Client(n *testenv.Node, fx fixture) *awss3.Client {
	return awss3.New(awss3.Options{
		Region: "local-1", BaseEndpoint: aws.String("http://" + n.Addrs.S3), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(fx.access, fx.secret, ""),
		// One attempt: a retry would blur which request the server
		// acknowledged.
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Timeout: 60 * time.Second},
	})
}

// s3Worker owns keys c<c>-k<i> and writes them one request at a time, so
// that each key's history is a sequence.
func s3Worker(ctx context.Context, cl *awss3.Client, bucket string, m *s3Model, cycle, c int) {
	rng := rand.New(rand.NewPCG(uint64(cycle), uint64(c)))
	sizes := []int{0, 1, 1000, 64 << 10, mib + 7}
	for seq := 0; ctx.Err() == nil; seq++ {
		key := fmt.Sprintf("c%d-k%d", c, rng.IntN(keysPerClient))
		seed := uint64(cycle)<<40 | uint64(c)<<32 | uint64(seq)
		switch p := rng.IntN(100); {
		case p < 55:
			body := content(seed, sizes[rng.IntN(len(sizes))])
			st := stateOf(body)
			m.begin(key, st)
			if _, err := cl.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)}); err == nil {
				m.ack(key, st)
			}
		case p < 72:
			m.begin(key, absent)
			if _, err := cl.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err == nil {
				m.ack(key, absent)
			}
		case p < 85:
			src := fmt.Sprintf("c%d-k%d", c, rng.IntN(keysPerClient))
			st, ok := m.settled(src)
			if !ok || st == absent || src == key {
				continue
			}
			m.begin(key, st)
			if _, err := cl.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: &bucket, Key: &key, CopySource: aws.String(bucket + "/" + src)}); err == nil {
				m.ack(key, st)
			}
		default:
			first, last := content(seed, 5*mib), content(seed+1, 1+rng.IntN(64<<10))
			st := stateOf(append(slices.Clip(first), last...))
			m.begin(key, st)
			if multipart(ctx, cl, bucket, key, first, last) == nil {
				m.ack(key, st)
			}
		}
	}
}

func multipart(ctx context.Context, cl *awss3.Client, bucket, key string, parts ...[]byte) error {
	up, err := cl.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return err
	}
	var done []types.CompletedPart
	for i, p := range parts {
		r, err := cl.UploadPart(ctx, &awss3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			return err
		}
		done = append(done, types.CompletedPart{ETag: r.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	_, err = cl.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	return err
}

// nbdWorker writes tagged blocks one request at a time, a quarter of
// them with FUA, and flushes every eighth write.
func nbdWorker(ctx context.Context, addr, export string, m *nbdModel, cycle int) {
	c, err := testenv.DialNBD(addr, export)
	if err != nil {
		return
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(uint64(cycle), uint64(m.vol)+100))
	for seq := uint64(1); ctx.Err() == nil; seq++ {
		b := rng.IntN(blocks)
		tag := uint64(m.vol+1)<<56 | uint64(cycle)<<32 | seq
		fua := rng.IntN(4) == 0
		m.wrote(b, tag)
		if err := c.Write(uint64(b)*stride, block(b, tag), fua); err != nil {
			return
		}
		if fua {
			m.fua(b, tag)
		}
		if seq%8 == 0 {
			if err := c.Flush(); err != nil {
				return
			}
			m.flushed()
		}
	}
}

type apiCounts struct{ accepted int }

// apiWorker keeps a few scratch volumes churning through create,
// snapshot, clone and delete, and places object-storage orders.
func apiWorker(ctx context.Context, n *testenv.Node, fx fixture, cycle int, counts *apiCounts) {
	rng := rand.New(rand.NewPCG(uint64(cycle), 7))
	for i := 0; ctx.Err() == nil; i++ {
		var vols struct{ Items []item }
		if _, err := n.Call("GET", "/api/v1/volumes?limit=100&name_contains=scratch", nil, &vols); err != nil {
			return
		}
		var target string
		for _, v := range vols.Items {
			if v.Status == "available" {
				target = v.ID
			}
		}
		var err error
		switch op := rng.IntN(6); {
		case op == 0 || target == "" && len(vols.Items) < 6:
			_, err = n.Call("POST", "/api/v1/volumes", map[string]any{"project_id": fx.project, "name": fmt.Sprintf("scratch-%d-%d", cycle, i), "size": 8 * mib}, nil)
		case op == 1 && target != "":
			_, err = n.Call("POST", "/api/v1/volumes/"+target+"/snapshots", map[string]any{"name": fmt.Sprintf("snap-%d-%d", cycle, i)}, nil)
		case op == 2 && target != "":
			_, err = n.Call("POST", "/api/v1/volumes/"+target+"/clone", map[string]any{"name": fmt.Sprintf("scratch-clone-%d-%d", cycle, i)}, nil)
		case op == 3 && target != "" && len(vols.Items) > 3:
			_, err = n.Call("DELETE", "/api/v1/volumes/"+target+"?force=true", nil, nil)
		case op == 4:
			var snaps struct{ Items []item }
			if _, err = n.Call("GET", "/api/v1/snapshots?limit=100", nil, &snaps); err == nil && len(snaps.Items) > 4 {
				_, err = n.Call("DELETE", "/api/v1/snapshots/"+snaps.Items[0].ID, nil, nil)
			}
		case op == 5 && i%3 == 0:
			err = order(n, fx, fmt.Sprintf("os-%d-%d", cycle, i))
		default:
			continue
		}
		if err == nil {
			counts.accepted++
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func order(n *testenv.Node, fx fixture, name string) error {
	var offs struct {
		Items []struct{ ID, Kind string }
	}
	if _, err := n.Call("GET", "/api/v1/offerings", nil, &offs); err != nil {
		return err
	}
	for _, o := range offs.Items {
		if o.Kind != "object_storage" {
			continue
		}
		var plans struct{ Items []item }
		if _, err := n.Call("GET", "/api/v1/offerings/"+o.ID+"/plans", nil, &plans); err != nil || len(plans.Items) == 0 {
			return errors.New("no plan")
		}
		_, err := n.Call("POST", "/api/v1/orders", map[string]any{"project_id": fx.project, "offering_id": o.ID, "plan_id": plans.Items[0].ID,
			"attributes": map[string]any{"name": name}, "limits": map[string]any{"storage": 1}}, nil)
		return err
	}
	return errors.New("no object storage offering")
}

// verify runs the checks every restart owes, before any new workload.
func verify(t *testing.T, n *testenv.Node, fx fixture, objects *s3Model, volumes [2]*nbdModel) {
	t.Helper()
	verifyObjects(t, n, fx, objects)
	for v, m := range volumes {
		c, err := testenv.DialNBD(n.Addrs.NBD, fx.exports[v])
		if err != nil {
			t.Fatalf("volume %d: %v", v, err)
		}
		buf := make([]byte, blockSize)
		for b := range blocks {
			if err := c.Read(uint64(b)*stride, buf); err != nil {
				t.Fatalf("volume %d block %d: %v", v, b, err)
			}
			if ok, why := m.check(b, buf); !ok {
				t.Errorf("volume %d block %d: %s (holds tag %#x)", v, b, why, buf[:8])
			}
		}
		c.Close()
	}
	checkFsck(t, n, "after restart")
	var gc struct{ Removed int }
	n.Must("POST", "/api/v1/admin/pools/object/gc", map[string]any{"min_age_seconds": 0}, &gc)
	if gc.Removed != 0 {
		t.Errorf("%d orphan blobs survived start-up GC", gc.Removed)
	}
	checkStates(t, n)
}

// verifyObjects reads every key of the model and the listing, and checks
// the bucket's usage counters against the listing.
func verifyObjects(t *testing.T, n *testenv.Node, fx fixture, m *s3Model) {
	t.Helper()
	ctx := context.Background()
	cl := s3Client(n, fx)
	listed := map[string]int64{}
	var sum, count int64
	p := awss3.NewListObjectsV2Paginator(cl, &awss3.ListObjectsV2Input{Bucket: &fx.bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, o := range page.Contents {
			listed[*o.Key] = *o.Size
			sum += *o.Size
			count++
		}
	}
	for c := range s3Clients {
		for i := range keysPerClient {
			key := fmt.Sprintf("c%d-k%d", c, i)
			seen := absent
			out, err := cl.GetObject(ctx, &awss3.GetObjectInput{Bucket: &fx.bucket, Key: &key})
			if err == nil {
				h := sha256.New()
				size, rerr := io.Copy(h, out.Body)
				out.Body.Close()
				if rerr != nil {
					t.Fatalf("read %s: %v", key, rerr)
				}
				seen = objState{size: size}
				copy(seen.sum[:], h.Sum(nil))
			} else if nsk := (*types.NoSuchKey)(nil); !errors.As(err, &nsk) {
				t.Fatalf("get %s: %v", key, err)
			}
			if size, ok := listed[key]; ok != (seen != absent) || ok && size != seen.size {
				t.Errorf("%s: listed %v (%d bytes) but reads as %d bytes", key, ok, size, seen.size)
			}
			delete(listed, key)
			if !m.check(key, seen) {
				t.Errorf("%s reads as %d bytes that no acknowledged or in-flight write produced", key, seen.size)
			}
		}
	}
	for k := range listed {
		t.Errorf("listed key %s was never written", k)
	}
	var b struct {
		SizeBytes   int64 `json:"size_bytes"`
		ObjectCount int64 `json:"object_count"`
	}
	n.Must("GET", "/api/v1/projects/"+fx.project+"/buckets/"+fx.bucket, nil, &b)
	if b.SizeBytes != sum || b.ObjectCount != count {
		t.Errorf("bucket usage says %d objects, %d bytes; the listing has %d, %d", b.ObjectCount, b.SizeBytes, count, sum)
	}
}

// checkFsck runs the block pool's fsck. A snapshot whose create job is
// still pending (the killed node's lease has not lapsed) may be recorded
// and not yet made: RBD indexes a snapshot before creating it, so that the
// job's retry finds it. Any other problem fails the test.
func checkFsck(t *testing.T, n *testenv.Node, when string) {
	t.Helper()
	var fsck struct {
		Clean    bool
		Problems []string
	}
	// A snapshot job may finish while fsck runs (it no longer waits for a
	// dead instance's RBD lock): what was being created or deleted before
	// fsck or still is after it may be half done.
	pending := snapshotsInFlight(n)
	n.Must("POST", "/api/v1/admin/pools/block/fsck", nil, &fsck)
	if fsck.Clean {
		return
	}
	for id := range snapshotsInFlight(n) {
		pending[id] = true
	}
	for _, p := range fsck.Problems {
		id, _, _ := strings.Cut(strings.TrimPrefix(p, "snapshot "), " ")
		if pending[id] && strings.HasPrefix(p, "snapshot ") {
			t.Logf("block pool fsck %s: snapshot %s is still being created or deleted: %s", when, id, p)
			continue
		}
		t.Errorf("block pool fsck %s: %s", when, p)
	}
}

// snapshotsInFlight are the snapshots being created or deleted: their job
// queued or running, their status creating or deleting (a delete removes
// the RBD snapshot before its index entry).
func snapshotsInFlight(n *testenv.Node) map[string]bool {
	jobs := map[string]bool{}
	for _, j := range list(n, "/api/v1/jobs") {
		if (j.Kind == "snapshot.create" || j.Kind == "snapshot.delete") && (j.State == "queued" || j.State == "running") {
			jobs[j.ResourceID] = true
		}
	}
	out := map[string]bool{}
	for _, s := range list(n, "/api/v1/snapshots") {
		if jobs[s.ID] && (s.Status == "creating" || s.Status == "deleting") {
			out[s.ID] = true
		}
	}
	return out
}

// stableVolume is a status a volume may rest in.
func stableVolume(status string) bool { return status == "available" || status == "in_use" }

// checkStates requires every job to be in a known state and every volume
// and snapshot to rest in a stable status or to have a job that will move
// it on (a job a killed node was running waits for its lease to lapse).
func checkStates(t *testing.T, n *testenv.Node) {
	t.Helper()
	busy := map[string]bool{}
	for _, j := range list(n, "/api/v1/jobs") {
		switch j.State {
		case "queued", "running":
			busy[j.ResourceID] = true
		case "succeeded", "failed", "cancelled":
		default:
			t.Errorf("job %s (%s) in state %q", j.ID, j.Kind, j.State)
		}
	}
	for _, v := range list(n, "/api/v1/volumes") {
		if !stableVolume(v.Status) && !busy[v.ID] {
			t.Errorf("volume %s is %s with no job to move it on", v.ID, v.Status)
		}
	}
	for _, s := range list(n, "/api/v1/snapshots") {
		if s.Status != "available" && !busy[s.ID] {
			t.Errorf("snapshot %s is %s with no job to move it on", s.ID, s.Status)
		}
	}
}

// settle waits for the last node to finish every job (those a killed node
// held come back when their lease lapses), then requires every resource to
// be stable and every order finished.
func settle(t *testing.T, n *testenv.Node) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		// One listing, not one per state: a job requeued between two
		// listings (its lease lapsed) would be in neither.
		live := 0
		for _, j := range list(n, "/api/v1/jobs") {
			if j.State == "queued" || j.State == "running" {
				live++
			}
		}
		if live == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still queued or running", live)
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, v := range list(n, "/api/v1/volumes") {
		if !stableVolume(v.Status) {
			t.Errorf("volume %s settled as %s", v.ID, v.Status)
		}
	}
	for _, s := range list(n, "/api/v1/snapshots") {
		if s.Status != "available" {
			t.Errorf("snapshot %s settled as %s", s.ID, s.Status)
		}
	}
	for _, o := range list(n, "/api/v1/orders") {
		if !slices.Contains([]string{"done", "erred", "canceled", "rejected"}, o.State) {
			t.Errorf("order %s settled as %s", o.ID, o.State)
		}
	}
	for _, j := range list(n, "/api/v1/jobs?state=failed") {
		t.Logf("failed job %s (%s)", j.ID, j.Kind)
	}
}
