package s3_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestObjectLock: in a bucket with object lock, a version under retention
// or legal hold cannot be deleted (GOVERNANCE gives way to a bypass,
// COMPLIANCE to nothing until it ends), retention only grows, the
// bucket's default retention applies to new versions and multipart
// objects keep what their upload asked for; on both engines, with
// aws-sdk-go-v2.
func TestObjectLock(t *testing.T) {
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) { objectLock(t, newEnvOn(t, backend)) })
	}
}

func objectLock(t *testing.T, e *env) {
	ctx := context.Background()
	c := awsFor(e, e.a)
	b := aws.String("worm")
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b, ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	vs, err := c.GetBucketVersioning(ctx, &awss3.GetBucketVersioningInput{Bucket: b})
	if err != nil || vs.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("versioning of an object lock bucket: %v %+v", err, vs)
	}
	if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}}); errCode(err) != "InvalidBucketState" {
		t.Fatalf("suspending versioning under object lock: %v", err)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)

	// Retention from the request's headers, shown on HEAD.
	put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("gov"), Body: bytes.NewReader([]byte("keep me")),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(until)})
	if err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: b, Key: aws.String("gov")})
	if err != nil || head.ObjectLockMode != types.ObjectLockModeGovernance || !aws.ToTime(head.ObjectLockRetainUntilDate).Equal(until) {
		t.Fatalf("head of a locked object: %v %+v", err, head)
	}
	del := func(key, version string, bypass bool) error {
		_, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String(key), VersionId: aws.String(version),
			BypassGovernanceRetention: aws.Bool(bypass)})
		return err
	}
	if err := del("gov", *put.VersionId, false); errCode(err) != "AccessDenied" {
		t.Fatalf("delete under GOVERNANCE retention: %v", err)
	}
	// A delete marker is allowed; the version stays.
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String("gov")}); err != nil {
		t.Fatalf("delete marker over a locked version: %v", err)
	}
	got, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("gov"), VersionId: put.VersionId})
	if string(getBytes(t, got, err)) != "keep me" {
		t.Fatal("the locked version is gone")
	}
	// Shortening needs the bypass; lengthening does not.
	retain := func(key, version string, mode types.ObjectLockRetentionMode, at time.Time, bypass bool) error {
		_, err := c.PutObjectRetention(ctx, &awss3.PutObjectRetentionInput{Bucket: b, Key: aws.String(key), VersionId: aws.String(version),
			Retention: &types.ObjectLockRetention{Mode: mode, RetainUntilDate: aws.Time(at)}, BypassGovernanceRetention: aws.Bool(bypass)})
		return err
	}
	if err := retain("gov", *put.VersionId, types.ObjectLockRetentionModeGovernance, until.Add(-time.Minute), false); errCode(err) != "AccessDenied" {
		t.Fatalf("shortening GOVERNANCE without bypass: %v", err)
	}
	if err := retain("gov", *put.VersionId, types.ObjectLockRetentionModeGovernance, until.Add(time.Minute), false); err != nil {
		t.Fatalf("lengthening: %v", err)
	}
	r, err := c.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: b, Key: aws.String("gov"), VersionId: put.VersionId})
	if err != nil || !aws.ToTime(r.Retention.RetainUntilDate).Equal(until.Add(time.Minute)) {
		t.Fatalf("retention after lengthening: %v %+v", err, r)
	}
	if err := del("gov", *put.VersionId, true); err != nil {
		t.Fatalf("delete with bypass: %v", err)
	}

	// COMPLIANCE: no bypass, no shortening, no change of mode.
	cp, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("comp"), Body: bytes.NewReader([]byte("x")),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until)})
	if err != nil {
		t.Fatal(err)
	}
	if err := del("comp", *cp.VersionId, true); errCode(err) != "AccessDenied" {
		t.Fatalf("delete under COMPLIANCE with bypass: %v", err)
	}
	if err := retain("comp", *cp.VersionId, types.ObjectLockRetentionModeGovernance, until, true); errCode(err) != "AccessDenied" {
		t.Fatalf("COMPLIANCE to GOVERNANCE: %v", err)
	}
	dr, err := c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: b, BypassGovernanceRetention: aws.Bool(true),
		Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("comp"), VersionId: cp.VersionId}}}})
	if err != nil || len(dr.Errors) != 1 || aws.ToString(dr.Errors[0].Code) != "AccessDenied" || aws.ToString(dr.Errors[0].VersionId) != *cp.VersionId {
		t.Fatalf("DeleteObjects of a COMPLIANCE version: %v %+v", err, dr)
	}

	// Legal hold: blocks deletes until it is lifted.
	lh, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("hold"), Body: bytes.NewReader([]byte("y")),
		ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn})
	if err != nil {
		t.Fatal(err)
	}
	if err := del("hold", *lh.VersionId, true); errCode(err) != "AccessDenied" {
		t.Fatalf("delete under legal hold: %v", err)
	}
	if _, err := c.PutObjectLegalHold(ctx, &awss3.PutObjectLegalHoldInput{Bucket: b, Key: aws.String("hold"), VersionId: lh.VersionId,
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}}); err != nil {
		t.Fatal(err)
	}
	if err := del("hold", *lh.VersionId, false); err != nil {
		t.Fatalf("delete after the legal hold was lifted: %v", err)
	}

	// Default retention, for single and multipart objects alike.
	if _, err := c.PutObjectLockConfiguration(ctx, &awss3.PutObjectLockConfigurationInput{Bucket: b, ObjectLockConfiguration: &types.ObjectLockConfiguration{
		ObjectLockEnabled: types.ObjectLockEnabledEnabled,
		Rule:              &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	dp, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("default"), Body: bytes.NewReader([]byte("z"))})
	if err != nil {
		t.Fatal(err)
	}
	if err := del("default", *dp.VersionId, false); errCode(err) != "AccessDenied" {
		t.Fatalf("delete under the default retention: %v", err)
	}
	up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp"),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until)})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("part"))})
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err = c.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: b, Key: aws.String("mp"), VersionId: done.VersionId})
	if err != nil || r.Retention.Mode != types.ObjectLockRetentionModeCompliance {
		t.Fatalf("retention of a multipart object: %v %+v", err, r)
	}

	// Bad input: a bucket without object lock, an unknown mode, both days
	// and years.
	mustCreate(t, c, "plain")
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("plain"), Key: aws.String("k"), Body: bytes.NewReader(nil),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(until)}); errCode(err) != "InvalidRequest" {
		t.Fatalf("lock headers on a bucket without object lock: %v", err)
	}
	if _, err := c.PutObjectLockConfiguration(ctx, &awss3.PutObjectLockConfigurationInput{Bucket: aws.String("plain"), ObjectLockConfiguration: &types.ObjectLockConfiguration{
		ObjectLockEnabled: types.ObjectLockEnabledEnabled}}); errCode(err) != "InvalidBucketState" {
		t.Fatalf("object lock on an unversioned bucket: %v", err)
	}
	if _, err := c.PutObjectLockConfiguration(ctx, &awss3.PutObjectLockConfigurationInput{Bucket: b, ObjectLockConfiguration: &types.ObjectLockConfiguration{
		ObjectLockEnabled: types.ObjectLockEnabledEnabled,
		Rule:              &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1), Years: aws.Int32(1)}}}}); errCode(err) != "MalformedXML" {
		t.Fatalf("days and years: %v", err)
	}

	// Another project can neither read nor lift a lock.
	other := awsFor(e, e.b)
	if _, err := other.PutObjectRetention(ctx, &awss3.PutObjectRetentionInput{Bucket: b, Key: aws.String("comp"), VersionId: cp.VersionId,
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(until)}}); errCode(err) != "AccessDenied" {
		t.Fatalf("another project's retention change: %v", err)
	}
	if _, err := other.GetObjectLegalHold(ctx, &awss3.GetObjectLegalHoldInput{Bucket: b, Key: aws.String("comp")}); errCode(err) != "AccessDenied" {
		t.Fatalf("another project's legal hold read: %v", err)
	}
}
