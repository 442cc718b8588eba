// Package wayscloud owns the WAYSCloud storage dialect: /v1/storage buckets
// and credentials and the /storage/s3 guide, with X-API-Key (or Bearer)
// auth and WAYSCloud's {"error": {"code", "message", "details"}} body. The
// account is the project of the key: the project a token is bound to, or
// else the caller's first project. It translates; objectstorage decides.
package wayscloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/objectstorage"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

// API serves the dialect.
type API struct {
	identity   *identity.Service
	objects    *objectstorage.Manager
	s3Endpoint func() string
	log        *slog.Logger
	maxBody    int64
	surface    httpapi.Surface
	// bucketRegion and s3Region are this node's region as WAYSCloud names
	// it for buckets and for S3 clients ("" = the core's name).
	bucketRegion, s3Region string
}

func New(id *identity.Service, objects *objectstorage.Manager, s3Endpoint func() string, log *slog.Logger, maxBody int64) *API {
	a := &API{identity: id, objects: objects, s3Endpoint: s3Endpoint, log: log, maxBody: maxBody}
	a.surface = httpapi.Surface{Auth: id, Schemes: httpapi.APIKey | httpapi.Bearer, Render: a.render}
	return a
}

// WithRegions names the node's region as WAYSCloud clients expect it: the
// region of buckets and the region S3 clients sign for.
func (a *API) WithRegions(bucketRegion, s3Region string) *API {
	a.bucketRegion, a.s3Region = bucketRegion, s3Region
	return a
}

// regionName is a bucket's region as this dialect names it.
func (a *API) regionName(core string) string {
	if core == a.objects.Region() && a.bucketRegion != "" {
		return a.bucketRegion
	}
	return core
}

// signingRegion is the region S3 clients are told to use.
func (a *API) signingRegion() string {
	if a.s3Region != "" {
		return a.s3Region
	}
	return a.objects.Region()
}

// Register mounts the dialect on mux.
func (a *API) Register(mux httpapi.Mux) {
	p := a.surface.Private
	mux.Handle("GET /v1/storage/buckets", p(a.listBuckets))
	mux.Handle("POST /v1/storage/buckets", p(a.createBucket))
	mux.Handle("GET /v1/storage/buckets/{bucket_name}", p(a.getBucket))
	mux.Handle("DELETE /v1/storage/buckets/{bucket_name}", p(a.deleteBucket))
	mux.Handle("GET /v1/storage/credentials", p(a.credentials))
	mux.Handle("GET /storage/s3", p(a.guide))
	mux.Handle("/v1/storage/", a.surface.Public(func(w http.ResponseWriter, r *http.Request) error {
		return apiError{http.StatusNotFound, "NOT_FOUND", "No such endpoint", nil}
	}))
}

// apiError is a WAYSCloud error body.
type apiError struct {
	status  int
	code    string
	message string
	details map[string]any
}

func (e apiError) Error() string { return e.code + ": " + e.message }

func (a *API) render(w http.ResponseWriter, r *http.Request, err error) {
	var e apiError
	if !errors.As(err, &e) {
		e = translate(err)
	}
	httpapi.LogError(a.log, r, e.status, err)
	body := map[string]any{"code": e.code, "message": e.message}
	if e.details != nil {
		body["details"] = e.details
	}
	_ = httpapi.WriteJSON(w, e.status, map[string]any{"error": body})
}

func translate(err error) apiError {
	msg := errs.Message(err)
	switch errs.KindOf(err) {
	case errs.Unauthorized, errs.RateLimited:
		return apiError{http.StatusUnauthorized, "AUTH_FAILED", "Invalid or expired API key", nil}
	case errs.Permission:
		return apiError{http.StatusForbidden, "INSUFFICIENT_PERMISSIONS", "API key does not have permission for this service", nil}
	case errs.Invalid:
		var details map[string]any
		if f := errs.FieldOf(err); f != "" {
			details = map[string]any{"field": f}
		}
		return apiError{http.StatusBadRequest, "INVALID_PARAMETER", msg, details}
	case errs.TooLarge:
		return apiError{http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", msg, nil}
	case errs.NotExist:
		return apiError{http.StatusNotFound, "NOT_FOUND", msg, nil}
	case errs.Conflict, errs.Exist:
		return apiError{http.StatusConflict, "CONFLICT", msg, nil}
	case errs.Quota:
		return apiError{http.StatusForbidden, "QUOTA_EXCEEDED", msg, nil}
	}
	return apiError{http.StatusInternalServerError, "INTERNAL_ERROR", "Internal error", nil}
}

// account is the project the caller's key acts for.
func (a *API) account(ctx context.Context) (string, error) {
	pr, err := a.identity.DefaultProject(ctx, httpapi.Principal(ctx))
	if errs.Is(err, errs.Permission) {
		return "", apiError{http.StatusForbidden, "INSUFFICIENT_PERMISSIONS", "This API key belongs to no project with storage", nil}
	}
	return pr.ID, err
}

func (a *API) bucketJSON(b bucket.Bucket) map[string]any {
	return map[string]any{"name": b.Name, "region": a.regionName(b.Region), "tier": b.Tier, "created_at": b.Created.UTC().Format("2006-01-02T15:04:05Z"),
		"size_bytes": b.Bytes, "object_count": b.Objects, "is_public": b.ACL == bucket.ACLPublicRead}
}

func (a *API) listBuckets(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	bs, err := a.objects.Buckets(r.Context(), httpapi.Principal(r.Context()), project)
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(bs))
	for _, b := range bs {
		items = append(items, a.bucketJSON(b))
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"buckets": items, "total": len(items)})
}

func (a *API) createBucket(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		BucketName *string `json:"bucket_name"`
		Tier       *string `json:"tier"`
		Region     *string `json:"region"`
	}
	if err := httpapi.DecodeJSON(r, a.maxBody, &in, false); err != nil {
		return err
	}
	if in.BucketName == nil || *in.BucketName == "" {
		return apiError{http.StatusBadRequest, "INVALID_PARAMETER", "bucket_name is required",
			map[string]any{"field": "bucket_name", "provided": nil, "expected": "3-63 characters: lowercase letters, digits, hyphens"}}
	}
	tier := objectstorage.TierStandard
	if in.Tier != nil {
		tier = *in.Tier
	}
	if tier != objectstorage.TierStandard && tier != objectstorage.TierEnterprise {
		return apiError{http.StatusBadRequest, "INVALID_PARAMETER", "Unknown tier",
			map[string]any{"field": "tier", "provided": tier, "expected": "standard or enterprise"}}
	}
	if in.Region != nil && *in.Region != a.objects.Region() && *in.Region != a.regionName(a.objects.Region()) {
		return apiError{http.StatusBadRequest, "INVALID_PARAMETER", "Unknown region",
			map[string]any{"field": "region", "provided": *in.Region, "expected": a.regionName(a.objects.Region())}}
	}
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	name := *in.BucketName
	b, err := a.objects.CreateBucket(r.Context(), httpapi.Principal(r.Context()), objectstorage.BucketInput{ProjectID: project, Name: name, Tier: tier})
	switch {
	case errors.Is(err, objectstorage.ErrNameRetired):
		return apiError{http.StatusConflict, "BUCKET_NAME_UNAVAILABLE", "Bucket name cannot be reused after deletion", nil}
	case errs.Is(err, errs.Exist):
		return apiError{http.StatusConflict, "BUCKET_ALREADY_EXISTS", fmt.Sprintf("Bucket %q already exists", name), nil}
	case errs.Is(err, errs.Invalid) && errs.FieldOf(err) == "name":
		return apiError{http.StatusBadRequest, "INVALID_PARAMETER", errs.Message(err),
			map[string]any{"field": "bucket_name", "provided": name, "expected": "3-63 characters: lowercase letters, digits, hyphens"}}
	case err != nil:
		return err
	}
	return httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"success": true, "bucket_name": b.Name,
		"message": "Bucket created successfully", "endpoint": strings.TrimRight(a.s3Endpoint(), "/") + "/" + b.Name, "region": a.regionName(b.Region)})
}

var errNoBucket = apiError{http.StatusNotFound, "BUCKET_NOT_FOUND", "Bucket not found", nil}

// accountBucket finds a bucket of the caller's account; any other bucket,
// visible elsewhere or not, is not found here.
func (a *API) accountBucket(r *http.Request) (bucket.Bucket, error) {
	project, err := a.account(r.Context())
	if err != nil {
		return bucket.Bucket{}, err
	}
	b, err := a.objects.Bucket(r.Context(), httpapi.Principal(r.Context()), r.PathValue("bucket_name"))
	if errs.Is(err, errs.NotExist) || (err == nil && b.ProjectID != project) {
		return bucket.Bucket{}, errNoBucket
	}
	return b, err
}

func (a *API) getBucket(w http.ResponseWriter, r *http.Request) error {
	b, err := a.accountBucket(r)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, a.bucketJSON(b))
}

func (a *API) deleteBucket(w http.ResponseWriter, r *http.Request) error {
	b, err := a.accountBucket(r)
	if err != nil {
		return err
	}
	err = a.objects.DeleteBucket(r.Context(), httpapi.Principal(r.Context()), b.Name)
	if errs.Is(err, errs.Conflict) {
		return apiError{http.StatusConflict, "BUCKET_NOT_EMPTY", "Bucket must be empty before deletion", nil}
	}
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "message": "Bucket deleted"})
}

// credentials shows the caller's own key in the account, stable across
// calls; a secret writes, so a viewer gets INSUFFICIENT_PERMISSIONS.
func (a *API) credentials(w http.ResponseWriter, r *http.Request) error {
	project, err := a.account(r.Context())
	if err != nil {
		return err
	}
	c, secret, err := a.objects.AccountCredential(r.Context(), httpapi.Principal(r.Context()), project)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"access_key_id": c.AccessKey, "secret_access_key": secret,
		"endpoint_url": a.s3Endpoint(), "region": a.signingRegion(), "bucket_style": "path"})
}

// guide is the S3 quick start, with this server's endpoint and region.
func (a *API) guide(w http.ResponseWriter, r *http.Request) error {
	ep, region := a.s3Endpoint(), a.signingRegion()
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	_, err := fmt.Fprintf(w, `# S3 access

Endpoint: %[1]s (path-style addressing)
Region: %[2]s

Get your keys with GET /v1/storage/credentials, then:

## aws-cli

    aws configure set aws_access_key_id <access_key_id>
    aws configure set aws_secret_access_key <secret_access_key>
    aws --endpoint-url %[1]s --region %[2]s s3 mb s3://my-bucket
    aws --endpoint-url %[1]s --region %[2]s s3 cp file.txt s3://my-bucket/

## boto3

    import boto3
    s3 = boto3.client("s3", endpoint_url="%[1]s", region_name="%[2]s",
                      aws_access_key_id="<access_key_id>", aws_secret_access_key="<secret_access_key>")
    s3.upload_file("file.txt", "my-bucket", "file.txt")

Buckets made here and through /v1/storage/buckets are the same buckets.
`, ep, region)
	return err
}
