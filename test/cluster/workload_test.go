//go:build ceph

package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/internal/testenv"
)

// s3Ack is an object whose PUT (or multipart Complete) was acknowledged.
type s3Ack struct {
	key       string
	sum       [32]byte
	size      int
	by        string // the node that answered
	multipart bool
	cycle     int
}

// nbdAck is a write that a completed FLUSH covered.
type nbdAck struct {
	export  string
	via     string // host:port of the node the attachment named
	off     int64
	length  int
	pattern byte
}

// ledger is what the workload was told succeeded, and what of it read
// back: checked holds each write's key (object key, or export@offset)
// once it read back right the first time, lost once it did not.
type ledger struct {
	mu      sync.Mutex
	s3      []s3Ack
	nbd     []nbdAck
	nfs     []nfsAck
	acked   int
	checked map[string]bool
	lost    map[string]bool
	tried   map[string]int
	failed  map[string]int
	// why is each operation's first failure: a request that met the
	// dying node, for instance.
	why map[string]string
}

func (l *ledger) count(op string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tried[op]++
	if err != nil {
		l.failed[op]++
		if l.why[op] == "" {
			l.why[op] = err.Error()
		}
	}
}

// body is deterministic content for a key.
func body(key string, size int) []byte {
	rng := mrand.New(mrand.NewPCG(uint64(len(key)), uint64(size)))
	h := sha256.Sum256([]byte(key))
	b := make([]byte, size)
	for i := range b {
		b[i] = h[i%32] ^ byte(rng.UintN(256))
	}
	return b
}

// workload runs the mixed workload through HAProxy until ctx ends.
func (c *cluster) workload(ctx context.Context, fx fixture, cycle int, l *ledger) {
	var wg sync.WaitGroup
	cl := c.s3(c.haS3, fx, 3)
	for w := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); c.s3Worker(ctx, cl, fx, cycle, w, l) }()
	}
	wg.Add(3)
	go func() { defer wg.Done(); c.nfsWorker(ctx, fx, cycle, l) }()
	go func() { defer wg.Done(); c.multipartWorker(ctx, cl, fx, cycle, l) }()
	go func() { defer wg.Done(); c.volumeWorker(ctx, fx, cycle, l) }()
	wg.Wait()
}

func (c *cluster) s3Worker(ctx context.Context, cl *awss3.Client, fx fixture, cycle, w int, l *ledger) {
	sizes := []int{100, 4096, 70_000, 300_000}
	for seq := 0; ctx.Err() == nil; seq++ {
		key := fmt.Sprintf("c%d-w%d-%d", cycle, w, seq)
		b := body(key, sizes[seq%len(sizes)])
		out, err := cl.PutObject(context.WithoutCancel(ctx), &awss3.PutObjectInput{Bucket: &fx.bucket, Key: &key, Body: bytes.NewReader(b)})
		l.count("s3 put", err)
		if err == nil {
			l.mu.Lock()
			l.s3 = append(l.s3, s3Ack{key: key, sum: sha256.Sum256(b), size: len(b), by: servedHeader(out.ResultMetadata), cycle: cycle})
			l.acked++
			l.mu.Unlock()
		}
		l.mu.Lock()
		var a s3Ack
		if len(l.s3) > 0 {
			a = l.s3[mrand.IntN(len(l.s3))]
		}
		l.mu.Unlock()
		if seq%4 == 3 && a.key != "" { // read back something acknowledged, through HAProxy
			got, err := cl.GetObject(context.WithoutCancel(ctx), &awss3.GetObjectInput{Bucket: &fx.bucket, Key: &a.key})
			l.count("s3 get", err)
			if err == nil {
				rb, rerr := io.ReadAll(got.Body)
				got.Body.Close()
				if rerr == nil && sha256.Sum256(rb) != a.sum {
					c.t.Errorf("GET %s through HAProxy returned other bytes than were acknowledged", a.key)
				}
			}
		}
	}
}

// multipartWorker completes two-part uploads (5 MiB and 100 KiB), a few a
// cycle: Complete records a manifest of the parts, which may have been
// written through different nodes.
func (c *cluster) multipartWorker(ctx context.Context, cl *awss3.Client, fx fixture, cycle int, l *ledger) {
	for i := 0; i < 3 && ctx.Err() == nil; i++ {
		bg := context.WithoutCancel(ctx)
		key := fmt.Sprintf("c%d-mp%d", cycle, i)
		p1, p2 := body(key+"/1", 5*mib), body(key+"/2", 100_000)
		up, err := cl.CreateMultipartUpload(bg, &awss3.CreateMultipartUploadInput{Bucket: &fx.bucket, Key: &key})
		var parts []types.CompletedPart
		for n, p := range [][]byte{p1, p2} {
			if err != nil {
				break
			}
			var o *awss3.UploadPartOutput
			o, err = cl.UploadPart(bg, &awss3.UploadPartInput{Bucket: &fx.bucket, Key: &key, UploadId: up.UploadId,
				PartNumber: aws.Int32(int32(n + 1)), Body: bytes.NewReader(p)})
			if err == nil {
				parts = append(parts, types.CompletedPart{ETag: o.ETag, PartNumber: aws.Int32(int32(n + 1))})
			}
		}
		var done *awss3.CompleteMultipartUploadOutput
		if err == nil {
			done, err = cl.CompleteMultipartUpload(bg, &awss3.CompleteMultipartUploadInput{Bucket: &fx.bucket, Key: &key, UploadId: up.UploadId,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		}
		l.count("s3 multipart", err)
		if err == nil {
			whole := append(p1, p2...)
			l.mu.Lock()
			l.s3 = append(l.s3, s3Ack{key: key, sum: sha256.Sum256(whole), size: len(whole), by: servedHeader(done.ResultMetadata), multipart: true, cycle: cycle})
			l.acked++
			l.mu.Unlock()
		}
		sleep(ctx, 300*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// volumeWorker creates, attaches, writes (through the NBD address the
// attachment names, then FLUSH), snapshots and clones volumes, and orders
// an object-storage service, all through HAProxy.
func (c *cluster) volumeWorker(ctx context.Context, fx fixture, cycle int, l *ledger) {
	for i := 0; i < 3 && ctx.Err() == nil; i++ {
		err := c.volumeRound(ctx, fx, cycle, i, l)
		l.count("volume round", err)
	}
	err := c.order(fx, fmt.Sprintf("c%d-order", cycle))
	l.count("order", err)
}

type accepted struct {
	Volume     *struct{ ID string } `json:"volume"`
	Snapshot   *struct{ ID string } `json:"snapshot"`
	Attachment *struct {
		ConnectionInfo struct{ URI string } `json:"connection_info"`
	} `json:"attachment"`
}

// attachedVolume creates a volume through HAProxy, attaches it to a new
// instance and returns its id and the connection_info URI.
func (c *cluster) attachedVolume(fx fixture, volume map[string]any, instance string) (string, *url.URL, error) {
	var v accepted
	volume["project_id"] = fx.project
	if _, err := c.call(c.haAPI, "POST", "/api/v1/volumes", volume, &v); err != nil {
		return "", nil, err
	}
	if err := c.waitStatus("/api/v1/volumes/"+v.Volume.ID, "available"); err != nil {
		return "", nil, err
	}
	var inst struct{ ID string }
	if _, err := c.call(c.haAPI, "POST", "/api/v1/instances", map[string]any{"project_id": fx.project, "name": instance}, &inst); err != nil {
		return "", nil, err
	}
	var att accepted
	if _, err := c.call(c.haAPI, "POST", "/api/v1/volumes/"+v.Volume.ID+"/attach", map[string]any{"instance_id": inst.ID}, &att); err != nil {
		return "", nil, err
	}
	if err := c.waitStatus("/api/v1/volumes/"+v.Volume.ID, "in_use"); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(att.Attachment.ConnectionInfo.URI)
	return v.Volume.ID, u, err
}

func (c *cluster) volumeRound(ctx context.Context, fx fixture, cycle, i int, l *ledger) error {
	id, u, err := c.attachedVolume(fx, map[string]any{"name": fmt.Sprintf("c%d-v%d", cycle, i), "size": 8 * mib}, fmt.Sprintf("c%d-vm%d", cycle, i))
	if err != nil {
		return err
	}
	export := strings.TrimPrefix(u.Path, "/")
	pattern := byte(0x10 + (cycle*7+i)%0xe0)
	off := int64(mrand.IntN(4)) * mib
	n, err := testenv.DialNBD(u.Host, export)
	if err != nil {
		return err
	}
	err = n.Write(uint64(off), bytes.Repeat([]byte{pattern}, 256<<10), false)
	if err == nil {
		err = n.Flush()
	}
	n.Close()
	l.count("nbd write+flush", err)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.nbd = append(l.nbd, nbdAck{export: export, via: u.Host, off: off, length: 256 << 10, pattern: pattern})
	l.acked++
	l.mu.Unlock()
	var sn accepted
	if _, err := c.call(c.haAPI, "POST", "/api/v1/volumes/"+id+"/snapshots", map[string]any{"name": "s"}, &sn); err != nil {
		return err
	}
	if err := c.waitStatus("/api/v1/snapshots/"+sn.Snapshot.ID, "available"); err != nil {
		return err
	}
	var cl accepted
	if _, err := c.call(c.haAPI, "POST", "/api/v1/volumes", map[string]any{"project_id": fx.project, "name": fmt.Sprintf("c%d-clone%d", cycle, i),
		"source_volume_id": id}, &cl); err != nil {
		return err
	}
	return c.waitStatus("/api/v1/volumes/"+cl.Volume.ID, "available")
}

// waitStatus polls a resource through HAProxy until it has status.
func (c *cluster) waitStatus(path, status string) error {
	var last string
	for deadline := time.Now().Add(statusBound); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var r struct{ Status string }
		if _, err := c.call(c.haAPI, "GET", path, nil, &r); err == nil {
			if last = r.Status; last == status {
				return nil
			}
			if strings.Contains(last, "error") {
				return fmt.Errorf("%s: %s", path, last)
			}
		}
	}
	return fmt.Errorf("%s is %q, not %s", path, last, status)
}

func (c *cluster) order(fx fixture, name string) error {
	var offs struct {
		Items []struct{ ID, Kind string }
	}
	if _, err := c.call(c.haAPI, "GET", "/api/v1/offerings", nil, &offs); err != nil {
		return err
	}
	for _, o := range offs.Items {
		if o.Kind != "object_storage" {
			continue
		}
		var plans struct{ Items []struct{ ID string } }
		if _, err := c.call(c.haAPI, "GET", "/api/v1/offerings/"+o.ID+"/plans", nil, &plans); err != nil || len(plans.Items) == 0 {
			return fmt.Errorf("no plan: %v", err)
		}
		_, err := c.call(c.haAPI, "POST", "/api/v1/orders", map[string]any{"project_id": fx.project, "offering_id": o.ID, "plan_id": plans.Items[0].ID,
			"attributes": map[string]any{"name": name}, "limits": map[string]any{"storage": 1}}, nil)
		return err
	}
	return fmt.Errorf("no object storage offering")
}

// cycles is 2 for `go test`, 10 under STOWAGE_SOAK=1, or
// STOWAGE_CLUSTER_CYCLES.
func cycles(t *testing.T) int { return testenv.Cycles(t, "STOWAGE_CLUSTER_CYCLES", 2, 10) }

func TestCluster(t *testing.T) {
	c := newCluster(t, 3)
	for i := range c.nodes {
		c.start(i)
	}
	c.haproxy(len(c.nodes))
	fx := c.fixture()
	l := &ledger{checked: map[string]bool{}, lost: map[string]bool{}, tried: map[string]int{}, failed: map[string]int{}, why: map[string]string{}}
	var takeovers []time.Duration
	began := time.Now()
	for cycle := range cycles(t) {
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); c.workload(ctx, fx, cycle, l) }()
		time.Sleep(time.Duration(1000+mrand.IntN(2000)) * time.Millisecond) // a random moment
		victim := mrand.IntN(len(c.nodes))
		owner, held, killedAt := c.killMidJobs(fx, victim)
		// Measured from the kill on, while the workload goes on without
		// the dead node for a second.
		taken := make(chan time.Duration, 1)
		go func() { taken <- c.takeover(owner, held, c.nodes[victim].name, killedAt) }()
		time.Sleep(time.Second)
		stop()
		<-done
		took := <-taken
		if len(held) > 0 {
			takeovers = append(takeovers, took)
		}
		c.settle(killedAt)
		settled := time.Since(killedAt)
		c.reportedDown(c.nodes[victim].name)
		c.verify(fx, l)
		c.usageMatchesListing(fx)
		c.start(victim)
		c.rejoined()
		tookText := "-"
		if len(held) > 0 {
			tookText = took.Round(time.Millisecond).String()
		}
		t.Logf("cluster: cycle %d: killed %s holding %d running jobs; taken over by another node in %s; every job done %s after the kill; %d S3 objects, %d NBD writes and %d NFS files acknowledged so far, %d read back from another node, %d lost",
			cycle+1, c.nodes[victim].name, len(held), tookText, settled.Round(time.Millisecond), len(l.s3), len(l.nbd), len(l.nfs), len(l.checked), len(l.lost))
		c.prune(fx, l, cycle)
	}
	var tk []string
	for _, d := range takeovers {
		tk = append(tk, d.Round(10*time.Millisecond).String())
	}
	t.Logf("cluster: %d cycles in %s: acknowledged %d (S3 puts and multipart uploads, NBD writes before a FLUSH, files copied over NFS), verified %d, lost %d; takeover times %v (bound %s); requests %v, failed %v (first failures: %q)",
		cycles(t), time.Since(began).Round(time.Second), l.acked, len(l.checked), len(l.lost), tk, leaseBound, l.tried, l.failed, l.why)
	if len(l.lost) > 0 || len(l.checked) != l.acked {
		t.Errorf("%d acknowledged writes, %d verified, %d lost", l.acked, len(l.checked), len(l.lost))
	}
}

// killMidJobs sends a burst of volume creates straight to the victim
// (whose runner, woken by its own API, claims them first) and kills it
// with SIGKILL as soon as it holds a running job (or after two seconds):
// it returns the victim's node id (its jobs' lease owner), the jobs it
// held then and when it died.
func (c *cluster) killMidJobs(fx fixture, victim int) (string, []string, time.Time) {
	nd := c.nodes[victim]
	var id string
	if err := c.db.QueryRow("SELECT id FROM nodes WHERE name = $1", nd.name).Scan(&id); err != nil {
		c.t.Fatalf("node %s is not registered: %v", nd.name, err)
	}
	for i := range 4 {
		go func() {
			_, _ = c.call(nd.api, "POST", "/api/v1/volumes", map[string]any{"project_id": fx.project, "name": fmt.Sprintf("burst-%d", i), "size": 4 * mib}, nil)
		}()
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var n int
		if err := c.db.QueryRow("SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_owner = $1", id).Scan(&n); err == nil && n > 0 {
			break
		}
	}
	c.kill(victim)
	at := time.Now()
	rows, err := c.db.Query("SELECT id FROM jobs WHERE state = 'running' AND lease_owner = $1", id)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	var held []string
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			c.t.Fatal(err)
		}
		held = append(held, j)
	}
	return id, held, at
}

// takeover waits until every job the dead node held runs on another node
// or is done, and returns how long that took after the kill. It runs
// beside the workload, so it reports with Errorf.
func (c *cluster) takeover(owner string, held []string, name string, killedAt time.Time) time.Duration {
	for {
		left := 0
		for _, j := range held {
			var state, lease string
			if err := c.db.QueryRow("SELECT state, lease_owner FROM jobs WHERE id = $1", j).Scan(&state, &lease); err != nil {
				c.t.Errorf("job %s: %v", j, err)
				return time.Since(killedAt)
			}
			if lease == owner || state == "queued" {
				left++
			}
		}
		took := time.Since(killedAt)
		if left == 0 {
			return took
		}
		if took > leaseBound {
			c.t.Errorf("%d jobs of the killed node %s not taken over %s after the kill", left, name, took.Round(time.Millisecond))
			return took
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle waits until no job is queued or running, at most settleBound
// after the kill.
func (c *cluster) settle(killedAt time.Time) {
	c.t.Helper()
	deadline := killedAt.Add(settleBound)
	for {
		var n int
		if err := c.db.QueryRow("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')").Scan(&n); err != nil {
			c.t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			rows, _ := c.db.Query("SELECT kind, state, attempts, error FROM jobs WHERE state IN ('queued', 'running')")
			var stuck []string
			for rows != nil && rows.Next() {
				var k, s, e string
				var a int
				_ = rows.Scan(&k, &s, &a, &e)
				stuck = append(stuck, fmt.Sprintf("%s %s attempt %d %q", k, s, a, e))
			}
			c.t.Fatalf("jobs stuck %s after the kill: %v", settleBound, stuck)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// other is a live node other than the one at addr (any live node when
// none is); kind picks which of its addresses to return.
func (c *cluster) other(notName, notAddr string, kind func(*node) string) (*node, string) {
	var live []*node
	for _, nd := range c.nodes {
		if nd.alive && nd.name != notName && kind(nd) != notAddr {
			live = append(live, nd)
		}
	}
	nd := live[mrand.IntN(len(live))]
	return nd, kind(nd)
}

// verify reads every acknowledged write back from a node other than the
// one that took it, bypassing HAProxy: S3 objects with the SDK, NBD
// writes with qemu-io. Writes of earlier cycles are read again: a later
// kill must not lose them either.
func (c *cluster) verify(fx fixture, l *ledger) {
	c.t.Helper()
	l.mu.Lock()
	s3acks, nbdacks := slices.Clone(l.s3), slices.Clone(l.nbd)
	l.mu.Unlock()
	clients := map[string]*awss3.Client{}
	for _, a := range s3acks {
		_, addr := c.other(a.by, "", func(n *node) string { return n.s3 })
		cl := clients[addr]
		if cl == nil {
			cl = c.s3(addr, fx, 1)
			clients[addr] = cl
		}
		out, err := cl.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: &fx.bucket, Key: aws.String(a.key)})
		if err != nil {
			c.t.Errorf("acknowledged %s (answered by %s) does not read back from %s: %v", a.key, a.by, addr, err)
			l.record(a.key, false)
			continue
		}
		b, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || sha256.Sum256(b) != a.sum {
			c.t.Errorf("acknowledged %s (answered by %s) reads back other bytes from %s (%d of %d bytes, %v)", a.key, a.by, addr, len(b), a.size, err)
			l.record(a.key, false)
			continue
		}
		l.record(a.key, true)
	}
	for _, a := range nbdacks {
		_, addr := c.other("", a.via, func(n *node) string { return n.nbd })
		out, err := exec.Command("qemu-io", "-f", "raw", "-r", "-c", fmt.Sprintf("read -P 0x%02x %d %d", a.pattern, a.off, a.length),
			"nbd://"+addr+"/"+a.export).CombinedOutput()
		if err != nil || strings.Contains(string(out), "failed") || strings.Contains(string(out), "Pattern verification") {
			c.t.Errorf("NBD write to %s through %s does not read back through %s: %v\n%s", a.export, a.via, addr, err, out)
			l.record(fmt.Sprintf("%s@%d", a.export, a.off), false)
			continue
		}
		l.record(fmt.Sprintf("%s@%d", a.export, a.off), true)
	}
	c.verifyNFS(l)
}

// record notes how a write read back.
func (l *ledger) record(key string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ok {
		l.checked[key] = true
	} else {
		l.lost[key] = true
	}
}

// usageMatchesListing checks the bucket's counters against its listing.
func (c *cluster) usageMatchesListing(fx fixture) {
	c.t.Helper()
	var count, size int64
	p := awss3.NewListObjectsV2Paginator(c.s3(c.haS3, fx, 3), &awss3.ListObjectsV2Input{Bucket: &fx.bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			c.t.Fatal(err)
		}
		for _, o := range page.Contents {
			count++
			size += *o.Size
		}
	}
	var b struct {
		Size  int64 `json:"size_bytes"`
		Count int64 `json:"object_count"`
	}
	c.must(c.haAPI, "GET", "/api/v1/projects/"+fx.project+"/buckets/"+fx.bucket, nil, &b)
	if b.Size != size || b.Count != count {
		c.t.Errorf("bucket usage says %d objects of %d bytes, its listing %d of %d", b.Count, b.Size, count, size)
	}
}

// nodeHealth is the registry's view, through HAProxy.
func (c *cluster) nodeHealth() map[string]bool {
	c.t.Helper()
	var l struct {
		Items []struct {
			Name    string `json:"name"`
			Healthy bool   `json:"healthy"`
		} `json:"items"`
	}
	c.must(c.haAPI, "GET", "/api/v1/nodes", nil, &l)
	h := map[string]bool{}
	for _, n := range l.Items {
		h[n.Name] = n.Healthy
	}
	return h
}

// reportedDown checks that the registry lists the killed node as down.
func (c *cluster) reportedDown(name string) {
	c.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		healthy, listed := c.nodeHealth()[name]
		if listed && !healthy {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the registry does not list the killed node %s as down (listed %v, healthy %v)", name, listed, healthy)
		}
	}
}

// rejoined checks that every node is registered and healthy.
func (c *cluster) rejoined() {
	c.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		h := c.nodeHealth()
		healthy := 0
		for _, ok := range h {
			if ok {
				healthy++
			}
		}
		if len(h) == len(c.nodes) && healthy == len(c.nodes) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("after the restart the registry lists %v", h)
		}
	}
}

// prune deletes verified objects that have lived through two kills, and
// multipart objects at once: the test cluster's OSD keeps everything in
// RAM, and the long run has many cycles.
func (c *cluster) prune(fx fixture, l *ledger, cycle int) {
	cl := c.s3(c.haS3, fx, 3)
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := l.s3[:0]
	for _, a := range l.s3 {
		if a.multipart || a.cycle < cycle-1 {
			if _, err := cl.DeleteObject(context.Background(), &awss3.DeleteObjectInput{Bucket: &fx.bucket, Key: aws.String(a.key)}); err == nil {
				continue
			}
		}
		kept = append(kept, a)
	}
	l.s3 = kept
}
