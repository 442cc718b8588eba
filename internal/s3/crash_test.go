package s3_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/objectstore"
	"github.com/stowage/stowage/internal/s3"
	"github.com/stowage/stowage/internal/seal"
	"github.com/stowage/stowage/internal/store/sqlstore"
)

const (
	crashEnv = "STOWAGE_S3_CRASH_CHILD"
	// crashNSEnv names the RADOS namespace a child keeps its bodies in
	// when the test binary has Ceph: the same across restarts.
	crashNSEnv  = "STOWAGE_S3_RADOS_NS"
	crashKey    = "STWCRASHTESTKEY00001"
	crashSecret = "crash-test-secret"
)

// TestCrashChild is the server process of TestCrash: it opens (and on
// first start seeds) the data dir named by $STOWAGE_S3_CRASH_CHILD, runs
// the orphan GC as a server start does, serves S3 on 127.0.0.1 and prints
// its address. It only runs when re-executed by TestCrash, or by hand to
// serve a standalone endpoint for ceph/s3-tests or bench/s3 until killed:
//
//	STOWAGE_S3_CRASH_CHILD=/tmp/d STOWAGE_S3_ADDR=127.0.0.1:9000 \
//	STOWAGE_S3_KEYS=main:AK1:SK1,alt:AK2:SK2 go test -run '^TestCrashChild$' -timeout 0 ./internal/s3
//
// Each name in STOWAGE_S3_KEYS gets its own project; the project ids are
// printed as "PROJECT name id" (s3-tests compares owner ids).
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := seal.New(make([]byte, 32))
	keys := os.Getenv("STOWAGE_S3_KEYS")
	if keys == "" {
		keys = "crash:" + crashKey + ":" + crashSecret
	}
	now := time.Now()
	id := func() string { return uuid.Must(uuid.NewV7()).String() }
	var orgID string
	for i, spec := range strings.Split(keys, ",") {
		parts := strings.SplitN(spec, ":", 3)
		if len(parts) != 3 {
			t.Fatalf("STOWAGE_S3_KEYS entry %q is not name:access:secret", spec)
		}
		if c, err := st.S3Credential(ctx, parts[1]); err == nil {
			fmt.Printf("PROJECT %s %s\n", parts[0], c.ProjectID)
			continue
		}
		p := identity.Project{ID: id(), Name: parts[0], Created: now}
		if i == 0 && orgID == "" {
			org := identity.Organisation{ID: id(), Name: "org-" + parts[0], Created: now}
			p.OrganisationID = org.ID
			u := identity.User{ID: id(), Username: "u-" + parts[0], Active: true, Created: now}
			if err := st.Bootstrap(ctx, org, p, u, identity.Token{ID: id(), UserID: u.ID, Hash: id(), Prefix: "p", Created: now}); err != nil {
				t.Fatal(err)
			}
			orgID = org.ID
		} else {
			if orgID == "" {
				t.Fatal("the first key of STOWAGE_S3_KEYS must be new to seed the organisation")
			}
			p.OrganisationID = orgID
			if err := st.CreateProject(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.CreateS3Credential(ctx, bucket.Credential{AccessKey: parts[1], ProjectID: p.ID,
			SecretSealed: sealer.Seal([]byte(parts[2]), []byte(parts[1])), Created: now}); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("PROJECT %s %s\n", parts[0], p.ID)
	}
	// Nothing is in flight at start: whatever a crash left goes, found by
	// the local store's walk or, in RADOS, by the intents.
	var n int
	blobs, _ := radosBodies(t, st, os.Getenv(crashNSEnv))
	if blobs != nil {
		swept, err := objectstore.Sweep(ctx, st, blobs, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		n = swept.Intents
	} else {
		local, err := objectstore.New(filepath.Join(dir, "objects"), objectstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n, err = local.GC(ctx, time.Now(), st.LiveBlobs); err != nil {
			t.Fatal(err)
		}
		blobs = local
	}
	h, err := s3.New(s3.Options{Meta: st, Blobs: blobs, Credentials: s3.NewSealedCredentials(st, sealer), Keys: sealer, Region: region,
		Domain: os.Getenv("STOWAGE_S3_DOMAIN")})
	if err != nil {
		t.Fatal(err)
	}
	addr := os.Getenv("STOWAGE_S3_ADDR")
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ADDR %s GC %d\n", ln.Addr(), n)
	_ = http.Serve(ln, h) // until killed
}

// crashNS is the RADOS namespace of the crash test using dir.
func crashNS(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return "crash-" + hex.EncodeToString(sum[:8])
}

type crashChild struct {
	cmd  *exec.Cmd
	addr string
	gc   int
}

func startChild(t *testing.T, dir string) *crashChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir, crashNSEnv+"="+crashNS(dir))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var c crashChild
		if _, err := fmt.Sscanf(sc.Text(), "ADDR %s GC %d", &c.addr, &c.gc); err == nil {
			c.cmd = cmd
			go io.Copy(io.Discard, out)
			return &c
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("child did not start: %v", sc.Err())
	return nil
}

func (c *crashChild) kill() {
	_ = c.cmd.Process.Kill() // SIGKILL: no deferred cleanup runs
	_ = c.cmd.Wait()
}

// TestCrash kills the server with SIGKILL during concurrent uploads and
// overwrites, restarts it, and checks that every acknowledged object reads
// back byte-identical (or as a later write that was in flight), nothing
// partial is visible, usage counters equal the sum of objects, and the
// start-up GC leaves exactly the referenced blobs.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns server processes")
	}
	dir := t.TempDir()
	ctx := context.Background()
	child := startChild(t, dir)
	k := key{access: crashKey, secret: crashSecret}
	c := newAWS("http://"+child.addr, k, &http.Client{}, aws.RequestChecksumCalculationWhenSupported).c
	mustCreate(t, c, "crash")

	type state struct {
		acked   [32]byte // sha256 of the last acknowledged body
		hasAck  bool
		pending map[[32]byte]bool // sent, not acknowledged: may or may not have landed
	}
	var mu sync.Mutex
	keys := map[string]*state{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("g%d/k%d", g, i%4) // overwrites
				// Half the writers straddle InlineMax, so inline and blob
				// objects replace each other too.
				size := 1 + rng.IntN(3<<20)
				if g%2 == 0 {
					size = rng.IntN(2 * s3.InlineMax)
				}
				body := make([]byte, size)
				for j := range body {
					body[j] = byte(rng.Uint32())
				}
				sum := sha256.Sum256(body)
				mu.Lock()
				st := keys[name]
				if st == nil {
					st = &state{pending: map[[32]byte]bool{}}
					keys[name] = st
				}
				st.pending[sum] = true
				mu.Unlock()
				_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("crash"), Key: aws.String(name), Body: bytes.NewReader(body)})
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				delete(st.pending, sum)
				st.acked, st.hasAck = sum, true
				mu.Unlock()
			}
		}()
	}
	// Kill once some writes are acknowledged, however slow the machine is,
	// while others are still in flight.
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := 0
		for _, st := range keys {
			if st.hasAck {
				n++
			}
		}
		mu.Unlock()
		if n >= 8 {
			break
		}
	}
	time.Sleep(300 * time.Millisecond)
	child.kill()
	close(stop)
	wg.Wait()

	child = startChild(t, dir)
	defer child.kill()
	t.Logf("restart collected %d orphans", child.gc)
	c = newAWS("http://"+child.addr, k, &http.Client{}, aws.RequestChecksumCalculationWhenSupported).c
	acked := 0
	for name, st := range keys {
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("crash"), Key: aws.String(name)})
		if errCode(err) == "NoSuchKey" {
			if st.hasAck {
				t.Errorf("%s: acknowledged object lost", name)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		if !(st.hasAck && sum == st.acked) && !st.pending[sum] {
			t.Errorf("%s: %d bytes that were never written whole", name, len(body))
		}
		if st.hasAck {
			acked++
		}
	}
	if acked == 0 {
		t.Fatal("no write was acknowledged before the kill; the test proved nothing")
	}
	child.kill()

	// Counters and blobs, read from the store directly.
	st, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := st.BucketByName(ctx, "crash")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := st.ListObjects(ctx, b.ID, bucket.ListQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, o := range objs {
		total += o.Size
	}
	if b.Bytes != total || b.Objects != int64(len(objs)) {
		t.Errorf("usage counters %d bytes / %d objects, objects sum to %d / %d", b.Bytes, b.Objects, total, len(objs))
	}
	var files int
	if rb, pool := radosBodies(t, st, crashNS(dir)); rb != nil {
		// The restart swept what the crash left; nothing is left to sweep
		// and every RADOS head is an object's.
		swept, err := objectstore.Sweep(ctx, st, rb, time.Now().Add(time.Second))
		if err != nil || swept.Intents != 0 || swept.Removals != 0 {
			t.Errorf("a second sweep found %+v (%v)", swept, err)
		}
		files = pool.blobs(t)
		t.Logf("RADOS: %d intents swept at restart, %d heads left", child.gc, files)
	} else {
		blobs, _ := objectstore.New(filepath.Join(dir, "objects"), objectstore.Options{})
		if n, err := blobs.GC(ctx, time.Now().Add(time.Second), st.LiveBlobs); err != nil || n != 0 {
			t.Errorf("a second GC found %d orphans (%v)", n, err)
		}
		filepath.WalkDir(filepath.Join(dir, "objects", "blobs"), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files++
			}
			return nil
		})
	}
	inline := 0
	for _, o := range objs {
		if full, err := st.GetObject(ctx, b.ID, o.Key); err == nil && full.BlobID == "" {
			inline++
		}
	}
	if files != len(objs)-inline {
		t.Errorf("%d blob files for %d objects, %d of them inline", files, len(objs), inline)
	}
	t.Logf("%d keys, %d acknowledged, %d objects after restart", len(keys), acked, len(objs))
}
