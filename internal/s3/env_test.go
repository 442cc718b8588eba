package s3_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/objectstorage"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/objectstore"
	"github.com/stowage/stowage/internal/s3"
	"github.com/stowage/stowage/internal/seal"
	"github.com/stowage/stowage/internal/store/sqlstore"
	"github.com/stowage/stowage/internal/testenv"
)

const region = "local-1"

// key is an S3 credential of one project.
type key struct {
	project, access, secret string
}

// env is the S3 handler over a real SQLite store and object store in a
// temp dir, served on 127.0.0.1 over HTTP and HTTPS. In a test binary
// built with the ceph tag while $TEST_CEPH_CONF names a cluster (`make
// test-ceph`), the bodies are in a RADOS namespace of the env's own
// instead: the same tests, the other backend.
type env struct {
	store *sqlstore.Store
	// blobs is the local object store, nil when the bodies are in RADOS
	// (pool then looks into them).
	blobs   *objectstore.Store
	pool    bodyPool
	sealer  *seal.Sealer
	dataDir string
	srv     *httptest.Server
	tls     *httptest.Server
	a, b    key // two projects
	quota   *limitQuota
	reg     *prometheus.Registry
	opts    s3.Options // the handler's, for tests that build another on the same store
}

// limitQuota caps the bytes one project may write, counting committed
// bytes from the buckets' usage counters plus live reservations.
type limitQuota struct {
	store    *sqlstore.Store
	mu       sync.Mutex
	limit    map[string]int64
	reserved map[string]int64
}

func (q *limitQuota) Reserve(ctx context.Context, projectID string, _ bucket.Bucket, n int64) (func(), error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	lim, ok := q.limit[projectID]
	if ok {
		bs, err := q.store.ListBuckets(ctx, projectID)
		if err != nil {
			return nil, err
		}
		used := q.reserved[projectID]
		for _, b := range bs {
			used += b.Bytes
		}
		if used+n > lim {
			return nil, errs.E(errs.Quota, "project storage quota exceeded")
		}
	}
	q.reserved[projectID] += n
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			q.reserved[projectID] -= n
			q.mu.Unlock()
		})
	}, nil
}

// backends are the metadata engines every store-sensitive test runs on:
// SQLite always, PostgreSQL from $TEST_PG_DSN (which `make test` sets).
func backends(*testing.T) []string {
	return []string{"sqlite", "postgres"}
}

func newEnv(t testing.TB) *env { return newEnvOn(t, "sqlite") }

func newEnvOn(t testing.TB, backend string) *env { return newEnvWith(t, backend, "") }

// newEnvWith also sets the virtual-hosted-style domain.
func newEnvWith(t testing.TB, backend, domain string) *env {
	t.Helper()
	return buildEnv(t, backend, domain, false)
}

// newManagedEnv enforces quotas with the server's own objectstorage
// Manager, which reads usage from the store, instead of limitQuota.
func newManagedEnv(t *testing.T, backend string) *env {
	t.Helper()
	return buildEnv(t, backend, "", true)
}

func buildEnv(t testing.TB, backend, domain string, managed bool) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "meta.db")
	if backend == "postgres" {
		dsn = testenv.FreshPostgres(t)
	}
	st, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var blobs *objectstore.Store
	bodies, pool := radosBodies(t, st, "")
	if bodies == nil {
		if blobs, err = objectstore.New(filepath.Join(dir, "objects"), objectstore.Options{}); err != nil {
			t.Fatal(err)
		}
		bodies = blobs
	}
	sealer, err := seal.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	id := func() string { return uuid.Must(uuid.NewV7()).String() }
	org := identity.Organisation{ID: id(), Name: "org", Created: now}
	pa := identity.Project{ID: id(), OrganisationID: org.ID, Name: "alpha", Created: now}
	pb := identity.Project{ID: id(), OrganisationID: org.ID, Name: "beta", Created: now}
	u := identity.User{ID: id(), Username: "admin", Active: true, Created: now}
	tok := identity.Token{ID: id(), UserID: u.ID, Hash: "h", Prefix: "p", Created: now}
	if err := st.Bootstrap(ctx, org, pa, u, tok); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateProject(ctx, pb); err != nil {
		t.Fatal(err)
	}
	mk := func(project string) key {
		ak, sk := bucket.NewKey()
		c := bucket.Credential{AccessKey: ak, ProjectID: project, SecretSealed: sealer.Seal([]byte(sk), []byte(ak)), Created: now}
		if err := st.CreateS3Credential(ctx, c); err != nil {
			t.Fatal(err)
		}
		return key{project: project, access: ak, secret: sk}
	}
	e := &env{store: st, blobs: blobs, pool: pool, sealer: sealer, dataDir: dir, a: mk(pa.ID), b: mk(pb.ID), reg: prometheus.NewRegistry()}
	e.quota = &limitQuota{store: st, limit: map[string]int64{}, reserved: map[string]int64{}}
	var quota s3.Quota = e.quota
	if managed {
		quota = objectstorage.NewManager(st, nil, sealer, region)
	}
	e.opts = s3.Options{Meta: st, Blobs: bodies, Credentials: s3.NewSealedCredentials(st, sealer),
		Quota: quota, Keys: sealer, Region: region, Domain: domain}
	o := e.opts
	o.Registry = e.reg
	h, err := s3.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	e.tls = httptest.NewTLSServer(h)
	t.Cleanup(e.srv.Close)
	t.Cleanup(e.tls.Close)
	return e
}

// bodyPool looks into a RADOS namespace holding an env's bodies.
type bodyPool interface {
	// blobs counts the blobs (head objects) in the namespace.
	blobs(t testing.TB) int
	// holds reports whether any object there contains needle.
	holds(t testing.TB, needle []byte) bool
}

// gc runs the local store's orphan collection, expecting nothing to
// collect; RADOS has no such walk (intents and the removal queue stand in
// for it).
func (e *env) gc(t *testing.T) {
	t.Helper()
	if e.blobs == nil {
		return
	}
	if n, err := e.blobs.GC(context.Background(), time.Now().Add(time.Hour), e.store.LiveBlobs); err != nil || n != 0 {
		t.Fatalf("gc removed %d blobs (%v): every blob left is referenced", n, err)
	}
}

// tlsTransport trusts the test server's certificate.
func (e *env) tlsTransport() *http.Transport {
	tr := e.tls.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: tr.TLSClientConfig.RootCAs}
	return tr
}
