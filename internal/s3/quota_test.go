package s3_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/uuid"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/objectstorage"
	"github.com/stowage/stowage/internal/core/volume"
)

// TestMultipartQuota is issue 18's item 9: parts were not counted, so 20
// parts of 900 KiB went into 1 MiB of headroom and a completed upload
// took a project far past its quota. Parts count towards the project's
// and the object-storage service's usage from the moment they are stored;
// an UploadPart that would exceed either is QuotaExceeded, as a PUT is;
// completing turns the parts into the object without counting twice and
// aborting gives their bytes back.
func TestMultipartQuota(t *testing.T) {
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) {
			const kib = 1 << 10
			e := newManagedEnv(t, backend)
			ctx := context.Background()
			c := awsFor(e, e.a)
			limit := int64(2048 * kib)
			now := time.Now().UTC()
			if err := e.store.SetQuota(ctx, e.a.project, volume.Limits{StorageBytes: &limit}, volume.Event{ID: uuid.NewString(),
				ProjectID: e.a.project, Action: "quota.set", ResourceType: "project", ResourceID: e.a.project, Created: now}); err != nil {
				t.Fatal(err)
			}
			used := func() int64 {
				t.Helper()
				_, u, err := e.store.GetQuota(ctx, e.a.project)
				if err != nil {
					t.Fatal(err)
				}
				return u.StorageBytes
			}
			mustCreate(t, c, "parts")
			b := aws.String("parts")
			start := func(key string) *string {
				t.Helper()
				up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: aws.String(key)})
				if err != nil {
					t.Fatal(err)
				}
				return up.UploadId
			}
			part := func(c *awss3.Client, bucketName, key string, id *string, n int32, size int) (string, string) {
				out, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String(bucketName), Key: aws.String(key), UploadId: id,
					PartNumber: aws.Int32(n), Body: bytes.NewReader(make([]byte, size))})
				if err != nil {
					return "", errCode(err)
				}
				return aws.ToString(out.ETag), ""
			}

			id := start("big")
			etag1, code := part(c, "parts", "big", id, 1, 900*kib)
			if code != "" {
				t.Fatalf("part 1: %s", code)
			}
			if _, code := part(c, "parts", "big", id, 2, 900*kib); code != "" {
				t.Fatalf("part 2: %s", code)
			}
			if got := used(); got != 1800*kib {
				t.Fatalf("usage with two parts stored: %d, want %d", got, 1800*kib)
			}
			if _, code := part(c, "parts", "big", id, 3, 900*kib); code != "QuotaExceeded" {
				t.Fatalf("a part past the quota: %q, want QuotaExceeded", code)
			}
			_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("put"), Body: bytes.NewReader(make([]byte, 300*kib))})
			if errCode(err) != "QuotaExceeded" {
				t.Fatalf("a PUT into the room parts took: %v", err)
			}
			// Replacing a part counts the new one instead of the old.
			if _, code := part(c, "parts", "big", id, 2, 100*kib); code != "" {
				t.Fatalf("replacing part 2: %s", code)
			}
			if got := used(); got != 1000*kib {
				t.Fatalf("usage after replacing a part: %d, want %d", got, 1000*kib)
			}
			// Completing with part 1 alone: the object's bytes, once.
			if _, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("big"), UploadId: id,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(etag1)}}}}); err != nil {
				t.Fatal(err)
			}
			if got := used(); got != 900*kib {
				t.Fatalf("usage after completing: %d, want %d", got, 900*kib)
			}
			// Aborting gives the parts' bytes back.
			id = start("dropped")
			if _, code := part(c, "parts", "dropped", id, 1, 900*kib); code != "" {
				t.Fatalf("part of the upload to abort: %s", code)
			}
			if got := used(); got != 1800*kib {
				t.Fatalf("usage with a part in flight: %d, want %d", got, 1800*kib)
			}
			if _, err := c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("dropped"), UploadId: id}); err != nil {
				t.Fatal(err)
			}
			if got := used(); got != 900*kib {
				t.Fatalf("usage after aborting: %d, want %d", got, 900*kib)
			}
			mustPut(t, c, "parts", "fits", make([]byte, 1100*kib))

			// An object-storage service's limit counts its parts the same way.
			svc := objectstorage.Service{ID: uuid.NewString(), ProjectID: e.a.project, Name: "svc", Region: region, Tier: "standard",
				StorageLimit: 1024 * kib, Created: now, Modified: now}
			ak, sk := bucket.NewKey()
			cred := bucket.Credential{AccessKey: ak, ProjectID: e.a.project, ServiceID: svc.ID, SecretSealed: e.sealer.Seal([]byte(sk), []byte(ak)), Created: now}
			sb := bucket.Bucket{ID: uuid.NewString(), Name: "svc-bucket", ProjectID: e.a.project, ServiceID: svc.ID, Region: region, ACL: bucket.ACLPrivate, Created: now}
			if err := e.store.CreateObjectStorage(ctx, svc, cred, &sb); err != nil {
				t.Fatal(err)
			}
			sc := awsFor(e, key{project: e.a.project, access: ak, secret: sk})
			up, err := sc.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("svc-bucket"), Key: aws.String("k")})
			if err != nil {
				t.Fatal(err)
			}
			if _, code := part(sc, "svc-bucket", "k", up.UploadId, 1, 700*kib); code != "" {
				t.Fatalf("service part 1: %s", code)
			}
			if n, err := e.store.ObjectStorageUsage(ctx, svc.ID); err != nil || n != 700*kib {
				t.Fatalf("service usage with a part stored: %d %v", n, err)
			}
			if _, code := part(sc, "svc-bucket", "k", up.UploadId, 2, 700*kib); code != "QuotaExceeded" {
				t.Fatalf("a service part past its limit: %q, want QuotaExceeded", code)
			}
		})
	}
}
