// Package testenv owns starting a whole Stowage server in-process for tests:
// free ports on 127.0.0.1, a temporary data dir, and the admin token from
// the bootstrap files, exactly as an operator would find them; and fresh
// PostgreSQL databases on the server named by TEST_PG_DSN.
package testenv

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/config"
	"github.com/stowage/stowage/internal/server"
)

// Env is a running server.
type Env struct {
	T          testing.TB
	DataDir    string
	Addrs      server.Addresses
	AdminToken string
	Config     config.Config
	// Routes are the management API's ServeMux patterns (Server.Routes).
	Routes []string
	// Transport, when set, carries every request Do and DoHeaders send,
	// so a suite can check each response its tests provoke.
	Transport http.RoundTripper
	stop      func()
}

// Option adjusts the configuration before start.
type Option func(*config.Config)

// Start runs a server until the test ends.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen, cfg.S3Listen, cfg.NBDListen, cfg.NFSListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Zones = []string{cfg.Region + "a"}
	cfg.NodeName = "test-" + filepath.Base(cfg.DataDir)
	cfg.ShutdownTimeout = 10 * time.Second
	// The cheapest Argon2id there is: hashing the admin's password at
	// first start at OWASP's cost takes half a second under -race, in
	// every test that starts a server. Logins check the same code path.
	cfg.PasswordHashTime, cfg.PasswordHashMemoryKiB = 1, 64
	for _, o := range opts {
		o(&cfg)
	}
	return StartConfig(t, cfg)
}

// Join runs another node of first's cluster until the test ends: same
// PostgreSQL database, same master key (read from first's data dir, as an
// operator copies it into STOWAGE_MASTER_KEY), its own data dir and ports.
// A node joining an existing database writes no admin token, so the
// environment carries first's.
func Join(t testing.TB, first *Env, opts ...Option) *Env {
	t.Helper()
	if first.Config.Database == "" {
		t.Fatal("testenv.Join: the first node must run on PostgreSQL")
	}
	key := first.Config.MasterKey
	if key == "" {
		b, err := os.ReadFile(filepath.Join(first.DataDir, "master.key"))
		if err != nil {
			t.Fatalf("read the first node's master key: %v", err)
		}
		key = hex.EncodeToString(b)
	}
	e := Start(t, append([]Option{func(c *config.Config) { c.Database, c.MasterKey = first.Config.Database, key }}, opts...)...)
	e.AdminToken = first.AdminToken
	return e
}

// StartConfig runs a server with exactly cfg until the test ends.
func StartConfig(t testing.TB, cfg config.Config) *Env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := server.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("start server: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	e := &Env{T: t, DataDir: cfg.DataDir, Addrs: s.Addrs(), Config: cfg, Routes: s.Routes()}
	var once bool
	e.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with error: %v", err)
		}
	}
	t.Cleanup(e.stop)
	tok, err := os.ReadFile(filepath.Join(cfg.DataDir, "admin-token"))
	switch {
	case err == nil:
		e.AdminToken = strings.TrimSpace(string(tok))
	case cfg.Database == "" || !errors.Is(err, fs.ErrNotExist):
		t.Fatalf("read admin token: %v", err)
	}
	// A node joining an existing database has none; Join supplies it.
	for deadline := time.Now().Add(10 * time.Second); cfg.Database != "" && !e.ready(); {
		if time.Now().After(deadline) {
			t.Fatal("the server did not become ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return e
}

// ready asks /readyz: on PostgreSQL a node is ready once it hears the
// other nodes' invalidations.
func (e *Env) ready() bool {
	r := e.Do("GET", "/readyz", "", nil)
	return r.Status == http.StatusOK
}

// WithT returns the environment reporting to t: a fuzz target must not
// fail through the *testing.F that started the server.
func (e *Env) WithT(t testing.TB) *Env {
	c := *e
	c.T = t
	return &c
}

// Stop shuts the server down gracefully before the test ends.
func (e *Env) Stop() { e.stop() }

// URL returns the management API URL of path.
func (e *Env) URL(path string) string {
	if e.Addrs.TLS {
		return "https://" + e.Addrs.API + path
	}
	return "http://" + e.Addrs.API + path
}

// Response is a decoded reply.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Do sends a request with the given Authorization value (none when empty)
// and a JSON body (raw when body is a string or []byte).
func (e *Env) Do(method, path, auth string, body any) Response {
	e.T.Helper()
	return e.DoHeaders(method, path, http.Header{"Authorization": nonEmpty(auth)}, body)
}

func nonEmpty(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

// DoHeaders sends a request with arbitrary headers.
func (e *Env) DoHeaders(method, path string, h http.Header, body any) Response {
	e.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL(path), rd)
	if err != nil {
		e.T.Fatal(err)
	}
	for k, vs := range h {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if rd != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := http.DefaultClient
	if e.Transport != nil {
		client = &http.Client{Transport: e.Transport}
	}
	resp, err := client.Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Bearer formats a token for the native API.
func Bearer(tok string) string { return "Bearer " + tok }

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	// A *testing.F may not log once fuzzing starts, and the server it
	// started logs throughout: a fuzzed server's log goes nowhere.
	if _, ok := w.t.(*testing.F); ok {
		return len(p), nil
	}
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// WaitVolume polls the native API, as the admin, until volume id has
// status, and returns it; after 20 s the test fails.
func (e *Env) WaitVolume(id, status string) map[string]any {
	e.T.Helper()
	var v map[string]any
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		e.Do("GET", "/api/v1/volumes/"+id, Bearer(e.AdminToken), nil).JSON(e.T, &v)
		if v["status"] == status {
			return v
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("volume %s never became %s: %v", id, status, v)
		}
	}
}
