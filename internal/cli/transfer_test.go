package cli_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stowage/stowage/internal/cli"
	"github.com/stowage/stowage/internal/testenv"
)

// user is someone running stowage with a HOME of their own against e.
type user struct {
	t   *testing.T
	env map[string]string
}

func newUser(t *testing.T, e *testenv.Env) *user {
	return &user{t: t, env: map[string]string{"HOME": t.TempDir(), "STOWAGE_ENDPOINT": "http://" + e.Addrs.API, "STOWAGE_TOKEN": e.AdminToken}}
}

// run runs the command line in-process and returns its output and exit
// code.
func (u *user) run(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = cli.Main(args, strings.NewReader(""), &o, &e, func(k string) string { return u.env[k] })
	return o.String(), e.String(), code
}

func (u *user) must(args ...string) string {
	u.t.Helper()
	out, errOut, code := u.run(args...)
	if code != 0 {
		u.t.Fatalf("stowage %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// viaProxy points the S3 key the CLI cached at p instead of the server, so
// that the test sees (and can disturb) every S3 request.
func (u *user) viaProxy(p *s3Proxy) {
	u.t.Helper()
	path := filepath.Join(u.env["HOME"], ".config", "stowage", "config.json")
	var cfg map[string]any
	b, err := os.ReadFile(path)
	if err != nil {
		u.t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		u.t.Fatal(err)
	}
	keys, _ := cfg["s3_keys"].(map[string]any)
	if len(keys) == 0 {
		u.t.Fatalf("no cached S3 key in %s", b)
	}
	for _, k := range keys {
		k.(map[string]any)["endpoint_url"] = p.URL
	}
	if b, err = json.Marshal(cfg); err != nil {
		u.t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		u.t.Fatal(err)
	}
}

// s3Proxy forwards S3 requests unchanged (the Host header the client
// signed included) and records how many part uploads and ranged reads it
// saw and how many were in flight at once. refuse, when set, answers a
// request 400 instead.
type s3Proxy struct {
	*httptest.Server
	refuse atomic.Pointer[func(*http.Request) bool]
	// slow, when positive, is how many bytes per second request bodies
	// are read at.
	slow atomic.Int64
	// corrupt, when set, flips the first byte of every ranged GET's body.
	corrupt atomic.Bool
	// hold, when set, keeps CompleteMultipartUpload requests waiting
	// until it is closed.
	hold atomic.Pointer[chan struct{}]

	upstream *http.Transport

	mu                  sync.Mutex
	parts, ranges       int
	inFlight, maxFlight int
}

func newS3Proxy(t *testing.T, e *testenv.Env) *s3Proxy {
	target, err := url.Parse("http://" + e.Addrs.S3)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	// Requests the test interrupts end in cancelled proxying, as expected.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	p := &s3Proxy{upstream: http.DefaultTransport.(*http.Transport).Clone()}
	rp.Transport = p.upstream
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		part := r.Method == "PUT" && r.URL.Query().Has("partNumber")
		ranged := r.Method == "GET" && r.Header.Get("Range") != ""
		if f := p.refuse.Load(); f != nil && (*f)(r) {
			io.Copy(io.Discard, r.Body)
			http.Error(w, "refused by the test", http.StatusBadRequest)
			return
		}
		if h := p.hold.Load(); h != nil && r.Method == "POST" && r.URL.Query().Has("uploadId") {
			select {
			case <-*h:
			case <-r.Context().Done():
			}
		}
		if bps := p.slow.Load(); bps > 0 {
			r.Body = &slowBody{r: r.Body, bps: bps}
		}
		p.mu.Lock()
		if part {
			p.parts++
		}
		if ranged {
			p.ranges++
		}
		p.inFlight++
		p.maxFlight = max(p.maxFlight, p.inFlight)
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			p.inFlight--
			p.mu.Unlock()
		}()
		if ranged && p.corrupt.Load() {
			w = &flipFirst{ResponseWriter: w}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// flipFirst inverts the first byte of a response body.
type flipFirst struct {
	http.ResponseWriter
	done bool
}

func (f *flipFirst) Write(b []byte) (int, error) {
	if f.done || len(b) == 0 {
		return f.ResponseWriter.Write(b)
	}
	f.done = true
	c := append([]byte(nil), b...)
	c[0] ^= 0xff
	return f.ResponseWriter.Write(c)
}

// Close stops the proxy and its connections to the server.
func (p *s3Proxy) Close() {
	p.Server.Close()
	p.upstream.CloseIdleConnections()
}

// counts returns and resets what the proxy saw.
func (p *s3Proxy) counts() (parts, ranges, maxFlight int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	parts, ranges, maxFlight = p.parts, p.ranges, p.maxFlight
	p.parts, p.ranges, p.maxFlight = 0, 0, 0
	return
}

func (p *s3Proxy) refuseWhen(f func(*http.Request) bool) { p.refuse.Store(&f) }

// slowBody reads at about bps bytes per second.
type slowBody struct {
	r   io.ReadCloser
	bps int64
}

func (s *slowBody) Read(b []byte) (int, error) {
	b = b[:min(len(b), 64<<10)]
	n, err := s.r.Read(b)
	time.Sleep(time.Duration(n) * time.Second / time.Duration(s.bps))
	return n, err
}

func (s *slowBody) Close() error { return s.r.Close() }

// copied is cp --json.
type copied struct {
	Files []struct {
		Source, Destination, ETag string
		Bytes                     int64
		Parts                     int
		Resumed                   int64 `json:"resumed_bytes"`
	} `json:"files"`
}

func decodeCopied(t *testing.T, out string) copied {
	t.Helper()
	var c copied
	if err := json.Unmarshal([]byte(out), &c); err != nil || len(c.Files) != 1 {
		t.Fatalf("cp --json printed %q (%v)", out, err)
	}
	return c
}

func writeRandom(t *testing.T, path string, n int) []byte {
	t.Helper()
	data := make([]byte, n)
	rand.NewChaCha8([32]byte{1}).Read(data)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestCopyLargeUpAndDown moves 200 MiB up and back down in parallel 8 MiB
// parts, interrupting each direction once to check that the second run
// resumes rather than starts over, and that the bytes come back identical.
func TestCopyLargeUpAndDown(t *testing.T) {
	const size, part = 200 << 20, 8 << 20
	e := testenv.Start(t)
	u := newUser(t, e)
	u.must("bucket", "create", "large")
	u.must("ls", "s3://large") // makes and caches the project's S3 key
	p := newS3Proxy(t, e)
	u.viaProxy(p)
	// No goroutine of the copies outlives them; the proxy's end when it
	// closes, before this check.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	defer p.Close()
	dir := t.TempDir()
	src := filepath.Join(dir, "blob.bin")
	data := writeRandom(t, src, size)

	// Parts 13 and above are refused: the copy fails, keeping what it sent.
	p.refuseWhen(func(r *http.Request) bool {
		n, err := strconv.Atoi(r.URL.Query().Get("partNumber"))
		return err == nil && n > 12
	})
	out, errOut, code := u.run("cp", src, "s3://large/blob.bin")
	if code != 1 || !strings.Contains(errOut, "run the same command again to resume") {
		t.Fatalf("interrupted upload: exit %d\n%s%s", code, out, errOut)
	}
	p.refuseWhen(func(*http.Request) bool { return false })
	p.counts()
	c := decodeCopied(t, u.must("cp", src, "s3://large/blob.bin", "--json"))
	f := c.Files[0]
	sent, _, maxFlight := p.counts()
	if f.Bytes != size || f.Parts != size/part || !regexp.MustCompile(`^[0-9a-f]{32}-25$`).MatchString(f.ETag) {
		t.Errorf("upload: %+v", f)
	}
	if f.Resumed == 0 || f.Resumed%part != 0 || sent != size/part-int(f.Resumed/part) {
		t.Errorf("resumed upload sent %d parts after %d bytes were already there", sent, f.Resumed)
	}
	if maxFlight < 2 {
		t.Errorf("at most %d requests in flight: parts did not go in parallel", maxFlight)
	}

	// Ranges from 96 MiB on are refused: the download keeps the 96 MiB
	// before them, in order, and the second run continues from there.
	p.refuseWhen(func(r *http.Request) bool {
		var from, to int64
		_, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &from, &to)
		return err == nil && from >= 96<<20
	})
	dst := filepath.Join(dir, "back", "blob.bin")
	out, errOut, code = u.run("cp", "s3://large/blob.bin", dst)
	if code != 1 || !strings.Contains(errOut, "run the same command again to resume") {
		t.Fatalf("interrupted download: exit %d\n%s%s", code, out, errOut)
	}
	p.refuseWhen(func(*http.Request) bool { return false })
	p.counts()
	c = decodeCopied(t, u.must("cp", "s3://large/blob.bin", dst, "--json"))
	_, ranges, maxFlight := p.counts()
	if f := c.Files[0]; f.Resumed != 96<<20 || ranges != (size-96<<20)/part {
		t.Errorf("resumed download: %+v after %d ranges", f, ranges)
	}
	if maxFlight < 2 {
		t.Errorf("at most %d requests in flight: ranges did not go in parallel", maxFlight)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatal("the downloaded copy differs from the original")
	}
	if left, _ := filepath.Glob(dst + ".*.part"); len(left) != 0 {
		t.Errorf("partial files left: %v", left)
	}

	// Bytes changed on the way fail the multipart ETag (the MD5 of the
	// parts' MD5s, part sizes from HEAD ?partNumber) and leave nothing.
	p.corrupt.Store(true)
	bad := filepath.Join(dir, "back", "corrupt.bin")
	out, errOut, code = u.run("cp", "s3://large/blob.bin", bad)
	p.corrupt.Store(false)
	if code != 1 || !strings.Contains(errOut, "does not match the object's ETag") {
		t.Fatalf("corrupted download: exit %d\n%s%s", code, out, errOut)
	}
	if left, _ := filepath.Glob(bad + "*"); len(left) != 0 {
		t.Errorf("a corrupted download left %v", left)
	}
}

// TestCachedKeyFollowsTheNode: when the S3 address cached with the key no
// longer answers (the node moved it), the command asks the server for the
// address and carries on with the same key.
func TestCachedKeyFollowsTheNode(t *testing.T) {
	e := testenv.Start(t)
	u := newUser(t, e)
	u.must("bucket", "create", "moved")
	u.must("ls", "s3://moved")
	gone := newS3Proxy(t, e)
	gone.Close()
	u.viaProxy(gone)
	u.must("ls", "s3://moved")
	b, err := os.ReadFile(filepath.Join(u.env["HOME"], ".config", "stowage", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"endpoint_url": "http://`+e.Addrs.S3+`"`) {
		t.Errorf("the cached key still points elsewhere:\n%s", b)
	}
	if keys := strings.Fields(u.must("credential", "ls", "-q")); len(keys) != 1 {
		t.Errorf("keys after the repair: %v, want the one", keys)
	}
}
