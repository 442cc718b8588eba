// Package notify proves that S3 event notifications survive a crash: the
// real binary, with webhooks allowed to loopback, announces the writes of
// several S3 clients to a receiver that holds every delivery; the node is
// killed with SIGKILL while deliveries hang and writes are in flight,
// then restarted. Every acknowledged write's event must arrive; an event
// may arrive more than once only under the same event id; and nothing
// arrives that no write asked for. The package holds only tests.
package notify

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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

// Writers run until the kill (at most opsPerWriter puts each), which
// comes once ackedBeforeCut writes were acknowledged.
const (
	writers        = 4
	opsPerWriter   = 1000
	ackedBeforeCut = 100
)

func TestNotificationsAcrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary twice and waits out a job lease")
	}
	bin := testenv.Build(t)
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		acrossRestart(t, bin, "sqlite")
	})
	if os.Getenv("TEST_PG_DSN") != "" {
		t.Run("postgres", func(t *testing.T) {
			t.Parallel()
			acrossRestart(t, bin, "postgres", "--database", testenv.FreshPostgres(t))
		})
	}
}

// ledger is what the writers asked for and what the node acknowledged,
// as "EventName key" strings.
type ledger struct {
	mu        sync.Mutex
	attempted map[string]bool
	acked     map[string]bool
}

func (l *ledger) record(ev string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempted[ev] = true
	if ok {
		l.acked[ev] = true
	}
}

func (l *ledger) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func acrossRestart(t *testing.T, bin, engine string, args ...string) {
	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "server.log")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("server log (tail):\n%s", b)
		}
	})
	args = append(args, "--notify-allow", "127.0.0.1")
	n := testenv.StartNode(t, bin, dir, logPath, args...)
	rcv := testenv.NewReceiver(t)

	var ps struct{ Items []struct{ ID string } }
	n.Must("GET", "/api/v1/projects", nil, &ps)
	project := ps.Items[0].ID
	var key struct {
		Access string `json:"access_key_id"`
		Secret string `json:"secret_access_key"`
	}
	n.Must("POST", "/api/v1/projects/"+project+"/credentials", nil, &key)
	var target struct{ ARN, Secret string }
	n.Must("POST", "/api/v1/projects/"+project+"/notification-targets", map[string]string{"name": "hook", "url": rcv.URL}, &target)
	rcv.SetSecret(target.Secret)
	ctx := context.Background()
	cl := func(n *testenv.Node) *awss3.Client {
		return awss3.New(awss3.Options{Region: "local-1", BaseEndpoint: aws.String("http://" + n.Addrs.S3), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(key.Access, key.Secret, ""), RetryMaxAttempts: 1,
			HTTPClient: &http.Client{Timeout: 30 * time.Second}})
	}
	b := aws.String("events")
	if _, err := cl(n).CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl(n).PutBucketNotificationConfiguration(ctx, &awss3.PutBucketNotificationConfigurationInput{Bucket: b,
		NotificationConfiguration: &types.NotificationConfiguration{TopicConfigurations: []types.TopicConfiguration{{
			TopicArn: &target.ARN, Events: []types.Event{"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}}}}}); err != nil {
		t.Fatal(err)
	}

	// Every delivery hangs from now on; the writers run until the node is
	// killed, which happens once deliveries are in flight and enough
	// writes were acknowledged.
	rcv.Block()
	l := &ledger{attempted: map[string]bool{}, acked: map[string]bool{}}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	s3c := cl(n)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < opsPerWriter && wctx.Err() == nil; i++ {
				k := fmt.Sprintf("w%d/k%03d", w, i)
				_, err := s3c.PutObject(wctx, &awss3.PutObjectInput{Bucket: b, Key: &k, Body: strings.NewReader(k)})
				l.record("ObjectCreated:Put "+k, err == nil)
				if err == nil && i%3 == 0 {
					_, err := s3c.DeleteObject(wctx, &awss3.DeleteObjectInput{Bucket: b, Key: &k})
					l.record("ObjectRemoved:Delete "+k, err == nil)
				}
			}
		}()
	}
	rcv.WaitFor(t, 60*time.Second, "a delivery in flight", func(ds []testenv.Delivery) bool { return len(ds) > 0 })
	for deadline := time.Now().Add(60 * time.Second); l.ackedCount() < ackedBeforeCut; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes acknowledged within a minute", l.ackedCount())
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
	n.Kill()
	stop()
	wg.Wait()
	inFlight := len(rcv.Deliveries())
	rcv.Unblock()

	restarted := time.Now()
	n = testenv.StartNode(t, bin, dir, logPath, args...)
	acked := l.acked
	rcv.WaitFor(t, 3*time.Minute, "every acknowledged write's event", func(ds []testenv.Delivery) bool {
		got := map[string]bool{}
		for _, d := range ds {
			if d.Acked && len(d.Records) == 1 {
				got[d.Records[0].EventName+" "+d.Records[0].S3.Object.Key] = true
			}
		}
		for ev := range acked {
			if !got[ev] {
				return false
			}
		}
		return true
	})
	settle(t, n)
	took := time.Since(restarted)

	ids := map[string]string{} // event → its event id
	requests := map[string]int{}
	delivered := map[string]bool{}
	var unsigned, foreign, twoIDs int
	for _, d := range rcv.Deliveries() {
		if !d.SignedOK {
			unsigned++
		}
		if len(d.Records) != 1 {
			t.Fatalf("delivery %s carries %d records", d.ID, len(d.Records))
		}
		ev := d.Records[0].EventName + " " + d.Records[0].S3.Object.Key
		if !l.attempted[ev] {
			foreign++
			t.Errorf("event %q answers no write", ev)
		}
		if id, seen := ids[ev]; seen && id != d.ID {
			twoIDs++
			t.Errorf("event %q arrived under two ids, %s and %s", ev, id, d.ID)
		}
		ids[ev] = d.ID
		requests[d.ID]++
		if d.Acked {
			delivered[d.ID] = true
		}
	}
	var lost, duplicates, cut int
	for ev := range acked {
		if !delivered[ids[ev]] {
			lost++
			t.Errorf("acknowledged write %q: its event was lost", ev)
		}
	}
	for ev := range ids {
		if !acked[ev] {
			cut++ // a write the kill interrupted, committed but never answered
		}
	}
	for _, c := range requests {
		duplicates += c - 1
	}
	if unsigned > 0 {
		t.Errorf("%d deliveries whose signature does not verify", unsigned)
	}
	fmt.Printf("notify (%s): %d writes acknowledged before SIGKILL (%d in flight cut), %d deliveries hanging at the kill; "+
		"after restart: %d events delivered, %d duplicates (all under the same event id: %d events under two ids), %d lost, "+
		"%d from interrupted writes, %d foreign; all settled %v after restart\n",
		engine, len(acked), len(l.attempted)-len(acked), inFlight, len(delivered), duplicates, twoIDs, lost, cut, foreign,
		took.Round(100*time.Millisecond))
	n.Stop()
}

// settle waits until no delivery job is queued or running: nothing more
// can arrive.
func settle(t *testing.T, n *testenv.Node) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; {
		open := len(testenv.List[struct{ ID string }](n, "/api/v1/jobs?kind=s3.notify&state=queued")) +
			len(testenv.List[struct{ ID string }](n, "/api/v1/jobs?kind=s3.notify&state=running"))
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d delivery jobs still open", open)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition, with a deadline
	}
}
