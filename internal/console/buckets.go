package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/objectstorage"
	"github.com/stowage/stowage/internal/errs"
)

// Object data never passes through the console: the page lists, uploads
// and downloads through the S3 listener with the member's own account key
// (the one WAYSCloud shows them), presigned here, so the S3 face's rules
// (quota, object lock, policies) apply as to any other client.

const (
	pageSize = 100
	// partSize is the smallest multipart part the page uploads; files
	// above it go in parts, at most maxParts of them.
	partSize = 8 << 20
	maxParts = 1000
	// presignFor is how long an upload's URLs work.
	presignFor = time.Hour
	// downloadFor is how long the listing's download links work.
	downloadFor = 15 * time.Minute
)

func (c *Console) bucketList(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	v, err := c.page(ctx, s, r.PathValue("id"), "buckets", "Buckets")
	if err != nil {
		return err
	}
	bs, err := c.objects.Buckets(ctx, s.p, v.Project.ID)
	if err != nil {
		return err
	}
	v.Data = bs
	return c.render(w, http.StatusOK, "buckets", v)
}

func (c *Console) bucketCreate(w http.ResponseWriter, r *http.Request, s *session) error {
	b, err := c.objects.CreateBucket(r.Context(), s.p, objectstorage.BucketInput{ProjectID: r.PathValue("id"),
		Name: strings.TrimSpace(r.PostFormValue("name")), Public: r.PostFormValue("public") == "on",
		Versioning: r.PostFormValue("versioning") == "on", ObjectLock: r.PostFormValue("object_lock") == "on"})
	if err != nil {
		return err
	}
	http.Redirect(w, r, bucketPath(b), http.StatusSeeOther)
	return nil
}

func bucketPath(b bucket.Bucket) string {
	return Base + "projects/" + url.PathEscape(b.ProjectID) + "/buckets/" + url.PathEscape(b.Name)
}

// bucketOf finds the bucket of the path, in the path's project.
func (c *Console) bucketOf(ctx context.Context, s *session, r *http.Request) (bucket.Bucket, error) {
	b, err := c.objects.Bucket(ctx, s.p, r.PathValue("name"))
	if err == nil && b.ProjectID != r.PathValue("id") {
		err = errs.E(errs.NotExist, "bucket %s not found", r.PathValue("name"))
	}
	return b, err
}

// client is an S3 client signing as the caller's account key in the
// bucket's project; the core refuses it to callers who may not write.
func (c *Console) client(ctx context.Context, s *session, projectID string) (*s3.Client, error) {
	cred, secret, err := c.objects.AccountCredential(ctx, s.p, projectID)
	if err != nil {
		return nil, err
	}
	return s3.New(s3.Options{
		Region:                     c.objects.Region(),
		BaseEndpoint:               aws.String(c.s3Endpoint()),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(cred.AccessKey, secret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}), nil
}

// s3Error turns an S3 answer into the domain error it stands for.
func s3Error(op string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NotFound":
			return errs.E(errs.NotExist, "%s", ae.ErrorMessage())
		case "AccessDenied", "InvalidObjectState", "ObjectLocked":
			return errs.E(errs.Permission, "%s", ae.ErrorMessage())
		case "QuotaExceeded":
			return errs.E(errs.Quota, "%s", ae.ErrorMessage())
		case "InvalidBucketState":
			// Versioning and object lock rules: said in the S3 face's words.
			return errs.E(errs.Conflict, "%s", ae.ErrorMessage())
		}
		return errs.E(errs.Invalid, "%s: %s", op, ae.ErrorMessage())
	}
	return fmt.Errorf("%s: %w", op, err)
}

type crumb struct{ Name, Prefix string }

type entry struct {
	Key, Name string
	Folder    bool
	Size      int64
	Modified  time.Time
	URL       string // a presigned download
}

type bucketData struct {
	Bucket   bucket.Bucket
	Prefix   string
	Crumbs   []crumb
	Entries  []entry
	Next     string
	Browse   bool // the caller may list objects (a member)
	Share    *share
	PartSize int
}

type share struct {
	Key, URL string
	Expires  time.Time
}

func crumbs(prefix string) []crumb {
	var out []crumb
	acc := ""
	for _, p := range strings.Split(strings.TrimSuffix(prefix, "/"), "/") {
		if p == "" {
			continue
		}
		acc += p + "/"
		out = append(out, crumb{Name: p, Prefix: acc})
	}
	return out
}

func (c *Console) bucketPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.showBucket(w, r, s, nil)
}

func (c *Console) showBucket(w http.ResponseWriter, r *http.Request, s *session, sh *share) error {
	ctx := r.Context()
	b, err := c.bucketOf(ctx, s, r)
	if err != nil {
		return err
	}
	v, err := c.page(ctx, s, b.ProjectID, "buckets", "Bucket "+b.Name)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	d := bucketData{Bucket: b, Prefix: q.Get("prefix"), Share: sh, PartSize: partSize}
	d.Crumbs = crumbs(d.Prefix)
	v.Data = &d
	if !v.CanWrite {
		// Listing signs with a key, which only members hold.
		return c.render(w, http.StatusOK, "bucket", v)
	}
	cl, err := c.client(ctx, s, b.ProjectID)
	if err != nil {
		return err
	}
	d.Browse = true
	in := &s3.ListObjectsV2Input{Bucket: aws.String(b.Name), Prefix: aws.String(d.Prefix), Delimiter: aws.String("/"),
		MaxKeys: aws.Int32(pageSize)}
	if t := q.Get("page"); t != "" {
		in.ContinuationToken = aws.String(t)
	}
	out, err := cl.ListObjectsV2(ctx, in)
	if err != nil {
		return s3Error("list objects", err)
	}
	for _, p := range out.CommonPrefixes {
		k := aws.ToString(p.Prefix)
		d.Entries = append(d.Entries, entry{Key: k, Name: strings.TrimPrefix(k, d.Prefix), Folder: true})
	}
	ps := s3.NewPresignClient(cl)
	for _, o := range out.Contents {
		k := aws.ToString(o.Key)
		// Each name links straight to the S3 listener, presigned for a
		// short while: the bytes never pass through the console.
		req, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Name), Key: aws.String(k),
			ResponseContentDisposition: aws.String(`attachment; filename*=UTF-8''` + url.PathEscape(path.Base(k)))},
			s3.WithPresignExpires(downloadFor))
		if err != nil {
			return fmt.Errorf("presign: %w", err)
		}
		d.Entries = append(d.Entries, entry{Key: k, Name: strings.TrimPrefix(k, d.Prefix), Size: aws.ToInt64(o.Size),
			Modified: aws.ToTime(o.LastModified), URL: req.URL})
	}
	if aws.ToBool(out.IsTruncated) {
		d.Next = aws.ToString(out.NextContinuationToken)
	}
	return c.render(w, http.StatusOK, "bucket", v)
}

// presignGet makes a share link for an object that exists.
func (c *Console) presignGet(ctx context.Context, s *session, b bucket.Bucket, key string, d time.Duration) (string, error) {
	cl, err := c.client(ctx, s, b.ProjectID)
	if err != nil {
		return "", err
	}
	if key == "" {
		return "", errs.Field("key", "name an object")
	}
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)}); err != nil {
		return "", s3Error("find the object", err)
	}
	req, err := s3.NewPresignClient(cl).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)},
		s3.WithPresignExpires(d))
	if err != nil {
		return "", fmt.Errorf("presign: %w", err)
	}
	return req.URL, nil
}

func (c *Console) bucketAction(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	b, err := c.bucketOf(ctx, s, r)
	if err != nil {
		return err
	}
	back := bucketPath(b)
	switch r.PathValue("action") {
	case "upload":
		return c.upload(w, r, s, b)
	case "complete":
		return c.complete(w, r, s, b)
	case "share":
		hours, err := strconv.Atoi(r.PostFormValue("hours"))
		if err != nil || hours < 1 || hours > 168 {
			return errs.Field("hours", "a link lasts 1 to 168 hours (SigV4's limit is 7 days)")
		}
		key := r.PostFormValue("key")
		d := time.Duration(hours) * time.Hour
		u, err := c.presignGet(ctx, s, b, key, d)
		if err != nil {
			return err
		}
		q := r.URL.Query()
		q.Set("prefix", path.Dir("/" + key)[1:])
		if p := q.Get("prefix"); p != "" {
			q.Set("prefix", p+"/")
		}
		r.URL.RawQuery = q.Encode()
		return c.showBucket(w, r, s, &share{Key: key, URL: u, Expires: time.Now().Add(d).UTC()})
	case "delete-object":
		cl, err := c.client(ctx, s, b.ProjectID)
		if err != nil {
			return err
		}
		key := r.PostFormValue("key")
		if key == "" {
			return errs.Field("key", "name an object")
		}
		if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)}); err != nil {
			return s3Error("delete the object", err)
		}
		back += "?prefix=" + url.QueryEscape(r.PostFormValue("prefix"))
	case "public":
		public := r.PostFormValue("public") == "on"
		if _, err := c.objects.UpdateBucket(ctx, s.p, b.Name, objectstorage.BucketUpdate{Public: &public}); err != nil {
			return err
		}
	case "versioning":
		cl, err := c.client(ctx, s, b.ProjectID)
		if err != nil {
			return err
		}
		st := s3types.BucketVersioningStatusSuspended
		if r.PostFormValue("enabled") == "on" {
			st = s3types.BucketVersioningStatusEnabled
		}
		if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(b.Name),
			VersioningConfiguration: &s3types.VersioningConfiguration{Status: st}}); err != nil {
			return s3Error("set versioning", err)
		}
	case "object-lock":
		if err := c.setObjectLock(ctx, s, b, r.PostFormValue("mode"), r.PostFormValue("days")); err != nil {
			return err
		}
	case "delete":
		if r.PostFormValue("confirm") != b.Name {
			return errs.Field("confirm", "type the bucket's name, %q, to delete it", b.Name)
		}
		if err := c.objects.DeleteBucket(ctx, s.p, b.Name); err != nil {
			return err
		}
		back = Base + "projects/" + url.PathEscape(b.ProjectID) + "/buckets"
	default:
		return errs.E(errs.NotExist, "no such action")
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

// setObjectLock turns object lock on, or changes its default retention
// (mode "" for none), through the S3 face, whose rules refuse it on a
// bucket without versioning.
func (c *Console) setObjectLock(ctx context.Context, s *session, b bucket.Bucket, mode, days string) error {
	cfg := &s3types.ObjectLockConfiguration{ObjectLockEnabled: s3types.ObjectLockEnabledEnabled}
	switch mode {
	case "":
	case string(s3types.ObjectLockRetentionModeGovernance), string(s3types.ObjectLockRetentionModeCompliance):
		n, err := strconv.Atoi(strings.TrimSpace(days))
		if err != nil || n < 1 || n > 36500 {
			return errs.Field("days", "a default retention lasts 1 to 36500 days")
		}
		cfg.Rule = &s3types.ObjectLockRule{DefaultRetention: &s3types.DefaultRetention{
			Mode: s3types.ObjectLockRetentionMode(mode), Days: aws.Int32(int32(n))}}
	default:
		return errs.Field("mode", "the default retention's mode is GOVERNANCE or COMPLIANCE, or none")
	}
	cl, err := c.client(ctx, s, b.ProjectID)
	if err != nil {
		return err
	}
	if _, err := cl.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: aws.String(b.Name),
		ObjectLockConfiguration: cfg}); err != nil {
		return s3Error("set object lock", err)
	}
	return nil
}

type uploadRequest struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
}

type uploadPlan struct {
	URL      string   `json:"url,omitempty"`       // one PUT
	UploadID string   `json:"upload_id,omitempty"` // or parts
	PartSize int64    `json:"part_size,omitempty"`
	Parts    []string `json:"parts,omitempty"`
}

// upload plans one file's upload: a presigned PUT, or a multipart upload
// and a presigned PUT per part. The page sends the parts' ETags back to
// complete it.
func (c *Console) upload(w http.ResponseWriter, r *http.Request, s *session, b bucket.Bucket) error {
	var in uploadRequest
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		return errs.E(errs.Invalid, "the body must be JSON {key, size}")
	}
	if in.Key == "" || len(in.Key) > 1024 || in.Size < 0 {
		return errs.Field("key", "an object needs a name of 1 to 1024 bytes and a size")
	}
	ctx := r.Context()
	cl, err := c.client(ctx, s, b.ProjectID)
	if err != nil {
		return err
	}
	ps := s3.NewPresignClient(cl)
	var plan uploadPlan
	if in.Size <= partSize {
		req, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.Name), Key: aws.String(in.Key)},
			s3.WithPresignExpires(presignFor))
		if err != nil {
			return fmt.Errorf("presign: %w", err)
		}
		plan.URL = req.URL
	} else {
		plan.PartSize = max(partSize, (in.Size+maxParts-1)/maxParts)
		n := int((in.Size + plan.PartSize - 1) / plan.PartSize)
		mp, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(b.Name), Key: aws.String(in.Key)})
		if err != nil {
			return s3Error("start the upload", err)
		}
		plan.UploadID = aws.ToString(mp.UploadId)
		for i := 1; i <= n; i++ {
			req, err := ps.PresignUploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(b.Name), Key: aws.String(in.Key),
				UploadId: mp.UploadId, PartNumber: aws.Int32(int32(i))}, s3.WithPresignExpires(presignFor))
			if err != nil {
				return fmt.Errorf("presign: %w", err)
			}
			plan.Parts = append(plan.Parts, req.URL)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(plan)
}

type completeRequest struct {
	Key      string   `json:"key"`
	UploadID string   `json:"upload_id"`
	ETags    []string `json:"etags"`
}

func (c *Console) complete(w http.ResponseWriter, r *http.Request, s *session, b bucket.Bucket) error {
	var in completeRequest
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Key == "" || in.UploadID == "" || len(in.ETags) == 0 ||
		len(in.ETags) > maxParts {
		return errs.E(errs.Invalid, "the body must be JSON {key, upload_id, etags}")
	}
	ctx := r.Context()
	cl, err := c.client(ctx, s, b.ProjectID)
	if err != nil {
		return err
	}
	parts := make([]s3types.CompletedPart, len(in.ETags))
	for i, e := range in.ETags {
		parts[i] = s3types.CompletedPart{ETag: aws.String(e), PartNumber: aws.Int32(int32(i + 1))}
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(b.Name), Key: aws.String(in.Key),
		UploadId: aws.String(in.UploadID), MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		return s3Error("complete the upload", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type version struct {
	ID       string
	Latest   bool
	Deleted  bool
	Size     int64
	Modified time.Time
	URL      string
}

type objectData struct {
	Bucket      bucket.Bucket
	Key         string
	Size        int64
	ETag        string
	ContentType string
	Modified    time.Time
	Versions    []version
	Crumbs      []crumb
}

// object shows one object's details and versions, each with a download
// link presigned for its version.
func (c *Console) object(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	b, err := c.bucketOf(ctx, s, r)
	if err != nil {
		return err
	}
	cl, err := c.client(ctx, s, b.ProjectID)
	if err != nil {
		return err
	}
	key := r.URL.Query().Get("key")
	if key == "" {
		return errs.Field("key", "name an object")
	}
	h, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)})
	if err != nil {
		return s3Error("find the object", err)
	}
	v, err := c.page(ctx, s, b.ProjectID, "buckets", key)
	if err != nil {
		return err
	}
	d := objectData{Bucket: b, Key: key, Size: aws.ToInt64(h.ContentLength), ETag: aws.ToString(h.ETag),
		ContentType: aws.ToString(h.ContentType), Modified: aws.ToTime(h.LastModified), Crumbs: crumbs(path.Dir("/" + key)[1:])}
	vs, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(b.Name), Prefix: aws.String(key),
		MaxKeys: aws.Int32(pageSize)})
	if err != nil {
		return s3Error("list versions", err)
	}
	ps := s3.NewPresignClient(cl)
	for _, x := range vs.Versions {
		if aws.ToString(x.Key) != key {
			continue
		}
		req, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key), VersionId: x.VersionId},
			s3.WithPresignExpires(downloadFor))
		if err != nil {
			return fmt.Errorf("presign: %w", err)
		}
		d.Versions = append(d.Versions, version{ID: aws.ToString(x.VersionId), Latest: aws.ToBool(x.IsLatest), Size: aws.ToInt64(x.Size),
			Modified: aws.ToTime(x.LastModified), URL: req.URL})
	}
	for _, x := range vs.DeleteMarkers {
		if aws.ToString(x.Key) == key {
			d.Versions = append(d.Versions, version{ID: aws.ToString(x.VersionId), Latest: aws.ToBool(x.IsLatest), Deleted: true,
				Modified: aws.ToTime(x.LastModified)})
		}
	}
	v.Data = d
	return c.render(w, http.StatusOK, "object", v)
}
