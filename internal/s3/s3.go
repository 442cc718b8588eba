// Package s3 owns the S3 data plane's HTTP face: one top-level http.Handler
// (never behind ServeMux, which cleans paths like "a//b" and cannot route on
// query keys) that authenticates with SigV4, routes on method, path and
// query keys, authorises each request in one decision (authz.go: ownership,
// bucket policy, ACLs and the bucket's controls), streams bodies between
// clients and the blob store, commits metadata through the store, and
// renders S3 XML and errors.
//
// It does not own bytes on disk (objectstore), SQL (sqlstore), SigV4 maths
// (sigv4) or quota accounting (a Quota it is given). The interfaces below
// are what it needs from each; the server wires implementations in.
package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/objectstore"
	"github.com/stowage/stowage/internal/s3/sigv2"
	"github.com/stowage/stowage/internal/s3/sigv4"
)

// Meta is the metadata store the handler needs (sqlstore implements it).
// NotExist, Exist and Conflict are reported as errs kinds.
type Meta interface {
	CreateBucket(ctx context.Context, b bucket.Bucket) error
	// BucketConfig returns a live bucket; its usage counters may lag.
	BucketConfig(ctx context.Context, name string) (bucket.Bucket, error)
	ListBuckets(ctx context.Context, projectID string) ([]bucket.Bucket, error)
	UpdateBucket(ctx context.Context, b bucket.Bucket) error
	DeleteBucketAbortUploads(ctx context.Context, id string, at time.Time) (partBlobs []string, err error)

	// GetObject returns key's current version.
	GetObject(ctx context.Context, bucketID, key string) (bucket.Object, error)
	// PutObject and DeleteObject act as S3 does by the bucket's versioning
	// state when they commit; SetVersioning and SetObjectLock check their
	// rules against the stored state (errs.Conflict).
	PutObject(ctx context.Context, o bucket.Object) (bucket.Committed, error)
	DeleteObject(ctx context.Context, bucketID, key string, at time.Time) (bucket.Committed, error)
	SetVersioning(ctx context.Context, bucketID, status string) error
	SetObjectLock(ctx context.Context, bucketID string, cfg bucket.ObjectLockConfig) error
	ListObjects(ctx context.Context, bucketID string, q bucket.ListQuery) ([]bucket.Object, error)
	GetObjectVersion(ctx context.Context, bucketID, key, versionID string) (bucket.Object, error)
	// DeleteVersion removes a version for good if allow, shown it in the
	// deleting transaction, lets it; UpdateLock sets a version's lock to
	// what change returns, in one transaction too.
	DeleteVersion(ctx context.Context, bucketID, key, versionID string, allow func(bucket.Object) error) (bucket.Object, error)
	UpdateLock(ctx context.Context, bucketID, key, versionID string, change func(bucket.Object) (bucket.Lock, error)) error
	ListVersions(ctx context.Context, bucketID string, q bucket.VersionQuery) ([]bucket.Object, error)
	// SetObjectTags and SetObjectACL change key's current version, or with
	// version the one it names.
	SetObjectTags(ctx context.Context, bucketID, key string, version *string, tags map[string]string) error
	SetObjectACL(ctx context.Context, bucketID, key string, version *string, acl string) error

	CreateUpload(ctx context.Context, u bucket.Upload) error
	GetUpload(ctx context.Context, bucketID, uploadID string) (bucket.Upload, error)
	ListUploads(ctx context.Context, bucketID, prefix, keyMarker, idMarker string, limit int) ([]bucket.Upload, error)
	PutPart(ctx context.Context, p bucket.Part) (replacedBlob string, err error)
	ListParts(ctx context.Context, uploadID string, after, limit int) ([]bucket.Part, error)
	CompleteUpload(ctx context.Context, bucketID, uploadID string, o bucket.Object) (bucket.Committed, []string, error)
	AbortUpload(ctx context.Context, bucketID, uploadID string) (partBlobs []string, err error)
}

// Blobs stores object bytes (objectstore.Store implements it; a RADOS
// backend will too). Open must return errs.NotExist for a missing blob.
type Blobs interface {
	Put(ctx context.Context, r io.Reader, o objectstore.PutOptions) (objectstore.Blob, error)
	Open(ctx context.Context, id string, offset, length int64) (io.ReadCloser, error)
	Delete(ctx context.Context, id string) error
	Concat(ctx context.Context, ids []string) (objectstore.Blob, error)
}

// Credentials resolves an access key id to the project it belongs to and
// its plain secret; an unknown or revoked key is errs.NotExist.
type Credentials interface {
	ResolveS3Key(ctx context.Context, accessKey string) (Key, error)
}

// Key is what an access key stands for: its project, and the object
// storage service when the key belongs to one; such a key reaches only
// that service's buckets.
type Key struct {
	ProjectID string
	ServiceID string
	Secret    string
}

// Quota reserves storage before a write. Reserve returns errs.Quota when
// the project's (or the bucket's object-storage service's) limit would be
// exceeded. release is called exactly once, after the write committed or
// failed; by then committed bytes show in the bucket's usage counters.
type Quota interface {
	Reserve(ctx context.Context, projectID string, b bucket.Bucket, bytes int64) (release func(), err error)
}

// Options are the handler's dependencies.
type Options struct {
	Meta        Meta
	Blobs       Blobs
	Credentials Credentials
	Quota       Quota // nil: no limit
	// Keys seals SSE-S3 data keys under the master key; nil refuses SSE-S3
	// (SSE-C needs nothing from the node).
	Keys Sealer
	// KMS wraps SSE-KMS data keys under project keys; nil refuses SSE-KMS.
	KMS      KMS
	Logger   *slog.Logger
	Registry prometheus.Registerer // nil: metrics are not registered
	Region   string                // reported by GetBucketLocation; default "local-1"
	// Domain enables virtual-hosted-style requests: Host "b.<Domain>"
	// addresses bucket b. Path style always works.
	Domain string
	// NoSigV2 refuses requests signed with signature version 2 (header or
	// presigned), which are otherwise accepted as s3cmd and older SDKs
	// send them.
	NoSigV2 bool
	// ConsoleOrigin reports whether a browser Origin is the node's own web
	// console, whose presigned uploads and listings every bucket accepts
	// across origins as if a CORS rule allowed them; nil trusts none. A
	// presigned URL carries its own authority, so this only lets the
	// console's page read the answers.
	ConsoleOrigin func(origin string) bool
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Meter, when set, counts every request on a bucket for usage
	// metering: one call per request, which must not block.
	Meter Meter
	// Destinations checks the targets of event notification rules; nil
	// answers NotImplemented to PutBucketNotificationConfiguration.
	Destinations Destinations
	// LifecycleDay is how long a lifecycle "day" lasts (default 24h);
	// tests shorten it, as RGW's rgw_lc_debug_interval does.
	LifecycleDay time.Duration
}

// Meter counts requests: the bucket, the S3 operation name and the body
// bytes received and sent.
type Meter interface {
	S3Request(bucket, op string, in, out int64)
}

// Handler is the S3 API.
type Handler struct {
	o       Options
	log     *slog.Logger
	metrics *metrics
	routes  []Route
}

// New builds the handler.
func New(o Options) (*Handler, error) {
	if o.Meta == nil || o.Blobs == nil || o.Credentials == nil {
		return nil, errors.New("s3: Meta, Blobs and Credentials are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Region == "" {
		o.Region = "local-1"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LifecycleDay <= 0 {
		o.LifecycleDay = 24 * time.Hour
	}
	o.Domain = strings.ToLower(strings.TrimPrefix(o.Domain, "."))
	m, err := newMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	return &Handler{o: o, log: o.Logger, metrics: m, routes: Routes()}, nil
}

// request is one S3 call as routed: who is asking, which bucket and key,
// and the verified signature (nil when anonymous).
type request struct {
	r         *http.Request
	id        string
	op        string
	bucket    string
	key       string
	hasKey    bool
	project   string // "" when anonymous
	service   string // the key's object-storage service, "" for a project key
	sig       *sigv4.Result
	resource  string
	bytesIn   int64
	bytesOut  int64
	startTime time.Time
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// ServeHTTP routes one request and renders its error, if any.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve(w, r, "") }

// ServeAs serves r as if signed by a key of projectID (not empty), with
// that project's rights and no more: the node's own services (volume
// images and backups) use a project's buckets through the same
// authorisation, quota, versioning and encryption as its clients, without
// holding a credential. It must never be reachable from the network.
func (h *Handler) ServeAs(w http.ResponseWriter, r *http.Request, projectID string) {
	if projectID == "" {
		http.Error(w, "no project", http.StatusForbidden)
		return
	}
	h.serve(w, r, projectID)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, as string) {
	req := &request{r: r, id: newRequestID(), startTime: time.Now()}
	sw := &statusWriter{ResponseWriter: w}
	sw.Header().Set("x-amz-request-id", req.id)
	sw.Header().Set("x-amz-id-2", req.id)
	sw.Header().Set("Server", "Stowage")
	h.locate(req)
	rt := h.route(req)
	req.op = rt.Op
	if req.r.Method == http.MethodOptions {
		req.op = "PreflightCORS"
	}
	var err error
	if req.r.Method == http.MethodOptions {
		// A CORS preflight carries no credentials, even on a presigned
		// URL (whose signature is for another method).
		err = h.preflight(sw, req)
	} else {
		h.corsActual(sw, req)
		if as != "" {
			req.project = as
		} else {
			err = h.authenticate(req)
		}
		if err == nil {
			err = h.checkKey(req)
		}
		if err == nil {
			err = rt.serve(h, sw, req)
		}
	}
	if err != nil {
		h.renderError(sw, req, err)
	}
	h.metrics.observe(req.op, sw.status(), req.bytesIn, sw.n, time.Since(req.startTime))
	if h.o.Meter != nil {
		h.o.Meter.S3Request(req.bucket, req.op, req.bytesIn, sw.n)
	}
}

// locate extracts bucket and key, virtual-hosted style when the Host is a
// subdomain of the configured domain, path style otherwise. The path is
// used as decoded, never cleaned: "a//b" and "../x" are keys.
func (h *Handler) locate(req *request) {
	path := req.r.URL.Path
	if b, ok := h.vhostBucket(req.r); ok {
		req.bucket = b
		req.key = strings.TrimPrefix(path, "/")
		req.hasKey = req.key != ""
	} else {
		rest := strings.TrimPrefix(path, "/")
		b, k, found := strings.Cut(rest, "/")
		req.bucket, req.key, req.hasKey = b, k, found && k != ""
	}
	req.resource = "/" + req.bucket
	if req.hasKey {
		req.resource += "/" + req.key
	}
	if req.bucket == "" {
		req.resource = "/"
	}
}

// vhostBucket is the bucket a virtual-hosted-style Host names.
func (h *Handler) vhostBucket(r *http.Request) (string, bool) {
	host := strings.ToLower(r.Host)
	if hst, _, err := net.SplitHostPort(host); err == nil {
		host = hst
	}
	if h.o.Domain != "" && strings.HasSuffix(host, "."+h.o.Domain) {
		return strings.TrimSuffix(host, "."+h.o.Domain), true
	}
	return "", false
}

// checkKey refuses a key no object can have before any operation looks
// it up, so that every engine answers the same 400 (PostgreSQL would
// refuse invalid UTF-8 and NUL only at the query).
func (h *Handler) checkKey(req *request) error {
	if !req.hasKey {
		return nil
	}
	if err := bucket.ValidKey(req.key); err != nil {
		return keyError(err)
	}
	return nil
}

// authenticate verifies the signature, if any, and records the caller's
// project. Authorisation (owner or public) happens per operation once the
// bucket is loaded.
func (h *Handler) authenticate(req *request) error {
	var k Key
	secret := func(ctx context.Context, key string) (string, error) {
		var err error
		k, err = h.o.Credentials.ResolveS3Key(ctx, key)
		if err != nil {
			if isNotExist(err) {
				return "", fmt.Errorf("%w: %w", sigv4.ErrUnknownAccessKey, err)
			}
			return "", err
		}
		return k.Secret, nil
	}
	var res *sigv4.Result
	var err error
	switch {
	case !sigv2.Is(req.r):
		res, err = sigv4.Verify(req.r.Context(), req.r, h.o.Now(), secret)
	case h.o.NoSigV2:
		err = &sigv4.Error{Code: sigv4.CodeInvalidRequest, Msg: "the authorization mechanism you have provided is not supported; use AWS4-HMAC-SHA256"}
	default:
		vhost, _ := h.vhostBucket(req.r)
		res, err = sigv2.Verify(req.r.Context(), req.r, h.o.Now(), secret, vhost)
	}
	if err != nil {
		return err
	}
	req.sig, req.project, req.service = res, k.ProjectID, k.ServiceID
	return nil
}

// statusWriter records the status and body bytes for metrics and logs.
type statusWriter struct {
	http.ResponseWriter
	code int
	n    int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// ReadFrom keeps sendfile available for object bodies.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(w.ResponseWriter, r)
	}
	w.n += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
