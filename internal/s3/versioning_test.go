package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// TestVersioning drives versioned buckets with aws-sdk-go-v2 on both
// metadata engines: versions kept on overwrite, delete markers, reads and
// copies of older versions, permanent deletes that bring the previous
// version back, suspended buckets' null version, listing with markers,
// usage over every version, and the start-up GC leaving noncurrent
// versions' bytes alone.
func TestVersioning(t *testing.T) {
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) { versioning(t, newEnvOn(t, backend)) })
	}
}

func versioning(t *testing.T, e *env) {
	ctx := context.Background()
	c := awsFor(e, e.a)
	b := aws.String("vers")
	mustCreate(t, c, "vers")
	mustPut(t, c, "vers", "k", []byte("before")) // the null version, from before versioning
	if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	put := func(key, body string) string {
		t.Helper()
		out, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: bytes.NewReader([]byte(body))})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.VersionId) == "" {
			t.Fatalf("put %s in a versioned bucket named no version", key)
		}
		return *out.VersionId
	}
	get := func(key, version string) (string, error) {
		t.Helper()
		in := &awss3.GetObjectInput{Bucket: b, Key: aws.String(key)}
		if version != "" {
			in.VersionId = aws.String(version)
		}
		out, err := c.GetObject(ctx, in)
		if err != nil {
			return "", err
		}
		return string(getBytes(t, out, nil)), nil
	}
	want := func(key, version, body string) {
		t.Helper()
		got, err := get(key, version)
		if err != nil || got != body {
			t.Fatalf("get %s@%q: %q, %v; want %q", key, version, got, err, body)
		}
	}
	v1 := put("k", "one")
	v2 := put("k", strings64k()) // inline, at the limit
	big := string(sseData(3 << 20))
	v3 := put("k", big) // a blob
	want("k", "", big)
	want("k", v1, "one")
	want("k", v2, strings64k())
	want("k", "null", "before")
	if _, err := get("k", "01234567-89ab-7def-8123-456789abcdef"); errCode(err) != "NoSuchVersion" {
		t.Fatalf("unknown version: %v", err)
	}
	if _, err := get("k", "not-a-version"); errCode(err) != "InvalidArgument" {
		t.Fatalf("malformed version: %v", err)
	}

	// Every version counts.
	usage := func(bytes, objects int64) {
		t.Helper()
		bk, err := e.store.BucketByName(ctx, "vers")
		if err != nil {
			t.Fatal(err)
		}
		if bk.Bytes != bytes || bk.Objects != objects {
			t.Fatalf("usage %d bytes / %d objects, want %d / %d", bk.Bytes, bk.Objects, bytes, objects)
		}
	}
	all := int64(len("before") + len("one") + len(strings64k()) + len(big))
	usage(all, 4)

	// A delete makes a marker: the key is gone, its versions are not.
	del, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String("k")})
	if err != nil || !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) == "" {
		t.Fatalf("delete: %v %+v", err, del)
	}
	marker := *del.VersionId
	if _, err := get("k", ""); errCode(err) != "NoSuchKey" {
		t.Fatalf("get after delete: %v", err)
	}
	_, err = c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: b, Key: aws.String("k")})
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response.Header.Get("X-Amz-Delete-Marker") != "true" || re.Response.Header.Get("X-Amz-Version-Id") != marker {
		t.Fatalf("head after delete: %v", err)
	}
	if _, err := get("k", marker); errCode(err) != "MethodNotAllowed" {
		t.Fatalf("get of the delete marker: %v", err)
	}
	want("k", v3, big)
	usage(all, 4)

	// Listing: newest first, the marker latest, pages resume where they
	// stopped.
	type ver struct {
		id     string
		latest bool
		marker bool
	}
	var seen []ver
	var keyMarker, idMarker *string
	for range 10 {
		out, err := c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: b, MaxKeys: aws.Int32(2), KeyMarker: keyMarker, VersionIdMarker: idMarker})
		if err != nil {
			t.Fatal(err)
		}
		// The SDK keeps versions and markers apart; with one key, newest
		// first means markers (all newer here) then versions.
		for _, m := range out.DeleteMarkers {
			seen = append(seen, ver{aws.ToString(m.VersionId), aws.ToBool(m.IsLatest), true})
		}
		for _, v := range out.Versions {
			seen = append(seen, ver{aws.ToString(v.VersionId), aws.ToBool(v.IsLatest), false})
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		keyMarker, idMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
	wantSeen := []ver{{marker, true, true}, {v3, false, false}, {v2, false, false}, {v1, false, false}, {"null", false, false}}
	if len(seen) != len(wantSeen) {
		t.Fatalf("listed %+v, want %+v", seen, wantSeen)
	}
	for i := range seen {
		if seen[i] != wantSeen[i] {
			t.Fatalf("listed %+v, want %+v", seen, wantSeen)
		}
	}

	// Tags of a noncurrent version are its own.
	if _, err := c.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String(v1),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("era"), Value: aws.String("one")}}}}); err != nil {
		t.Fatal(err)
	}
	tg, err := c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String(v1)})
	if err != nil || len(tg.TagSet) != 1 || aws.ToString(tg.TagSet[0].Value) != "one" {
		t.Fatalf("tags of v1: %v %+v", err, tg)
	}
	tg, err = c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String(v3)})
	if err != nil || len(tg.TagSet) != 0 {
		t.Fatalf("tags of v3 after tagging v1: %v %+v", err, tg)
	}
	if _, err := c.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String(marker),
		Tagging: &types.Tagging{TagSet: []types.Tag{}}}); errCode(err) != "NoSuchVersion" {
		t.Fatalf("tagging a delete marker: %v", err)
	}

	// Removing the marker brings v3 back; removing v3 brings v2 back.
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String(marker)}); err != nil {
		t.Fatal(err)
	}
	want("k", "", big)
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String(v3)}); err != nil {
		t.Fatal(err)
	}
	want("k", "", strings64k())
	usage(all-int64(len(big)), 3)

	// Copying an older version restores it as a new version, with bytes
	// of its own.
	cp, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: aws.String("k"), CopySource: aws.String("vers/k?versionId=" + v1)})
	if err != nil || aws.ToString(cp.VersionId) == "" || aws.ToString(cp.CopySourceVersionId) != v1 {
		t.Fatalf("copy of v1: %v %+v", err, cp)
	}
	want("k", "", "one")
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String(v1)}); err != nil {
		t.Fatal(err)
	}
	want("k", *cp.VersionId, "one")

	// Suspended: writes and deletes replace the null version only.
	if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: bytes.NewReader([]byte("null two"))})
	if err != nil || out.VersionId != nil {
		t.Fatalf("suspended put: %v, version %v", err, aws.ToString(out.VersionId))
	}
	want("k", "null", "null two")
	want("k", v2, strings64k())
	want("k", *cp.VersionId, "one")
	usage(int64(len(strings64k())+len("one")+len("null two")), 3)

	// A versioned bucket cannot be deleted while versions remain.
	if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: b}); errCode(err) != "BucketNotEmpty" {
		t.Fatalf("delete of a bucket with versions: %v", err)
	}

	// The start-up GC keeps noncurrent versions' blobs.
	mustPut(t, c, "vers", "big", []byte(big))
	if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	put("big", "replaced")
	e.gc(t)
	want("big", "null", big)

	// DeleteObjects with versions empties the bucket.
	var objs []types.ObjectIdentifier
	lv, err := c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range lv.Versions {
		objs = append(objs, types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
	}
	for _, m := range lv.DeleteMarkers {
		objs = append(objs, types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
	}
	dr, err := c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: objs}})
	if err != nil || len(dr.Errors) != 0 || len(dr.Deleted) != len(objs) {
		t.Fatalf("delete every version: %v %+v", err, dr)
	}
	usage(0, 0)
	if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: b}); err != nil {
		t.Fatalf("delete of the emptied bucket: %v", err)
	}

	// Another project sees none of it.
	other := awsFor(e, e.b)
	mustCreate(t, c, "vers-wall")
	mustPut(t, c, "vers-wall", "k", []byte("mine"))
	if _, err := other.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: aws.String("vers-wall")}); errCode(err) != "AccessDenied" {
		t.Fatalf("another project's version listing: %v", err)
	}
	if _, err := other.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("vers-wall"), Key: aws.String("k"), VersionId: aws.String("null")}); errCode(err) != "AccessDenied" {
		t.Fatalf("another project's version read: %v", err)
	}
	if _, err := other.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("vers-wall"), Key: aws.String("k"), VersionId: aws.String("null")}); errCode(err) != "AccessDenied" {
		t.Fatalf("another project's version delete: %v", err)
	}
	out2, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("vers-wall"), Key: aws.String("k")})
	if got := string(getBytes(t, out2, err)); got != "mine" {
		t.Fatalf("after another project's attempts: %q", got)
	}
}

func strings64k() string { return string(bytes.Repeat([]byte("v2"), 32<<10)) }

// TestConcurrentWritesOfOneKey: PUTs and deletes of one key racing each
// other all succeed, on both engines, versioned or not: the last commit is
// current, a versioned bucket keeps every version, and usage adds up.
func TestConcurrentWritesOfOneKey(t *testing.T) {
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newEnvOn(t, backend)
			ctx := context.Background()
			c := awsFor(e, e.a)
			for _, mode := range []string{"plain", "versioned"} {
				name := "race-" + mode
				mustCreate(t, c, name)
				if mode == "versioned" {
					if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: aws.String(name),
						VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
						t.Fatal(err)
					}
				}
				const writers = 12
				errc := make(chan error, writers)
				for i := range writers {
					go func() {
						body := bytes.Repeat([]byte{byte('a' + i)}, 100+i)
						_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(name), Key: aws.String("k"), Body: bytes.NewReader(body)})
						if err == nil && i%4 == 0 {
							_, err = c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(name), Key: aws.String("k")})
						}
						errc <- err
					}()
				}
				for range writers {
					if err := <-errc; err != nil {
						t.Fatalf("%s: %v", mode, err)
					}
				}
				bk, err := e.store.BucketByName(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				lv, err := c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: aws.String(name)})
				if err != nil {
					t.Fatal(err)
				}
				var sum int64
				for _, v := range lv.Versions {
					sum += aws.ToInt64(v.Size)
				}
				if bk.Bytes != sum || bk.Objects != int64(len(lv.Versions)) {
					t.Fatalf("%s: usage %d bytes / %d objects, versions sum to %d / %d", mode, bk.Bytes, bk.Objects, sum, len(lv.Versions))
				}
				if mode == "versioned" && (len(lv.Versions) != writers || len(lv.DeleteMarkers) != writers/4) {
					t.Fatalf("versioned: %d versions and %d markers, want %d and %d", len(lv.Versions), len(lv.DeleteMarkers), writers, writers/4)
				}
			}
		})
	}
}

// slowPut starts a PUT of key whose body arrives in two halves: the first
// now, the second when the returned function is called, which waits for
// the answer.
func slowPut(t *testing.T, e *env, bucketName, key string, first, second []byte) func() *http.Response {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest("PUT", e.srv.URL+"/"+bucketName+"/"+key, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(first) + len(second))
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	// With 100-continue the client sends no body byte before the handler
	// asks for one, so once the first bytes are taken the PUT is under way.
	req.Header.Set("Expect", "100-continue")
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: e.a.access, SecretAccessKey: e.a.secret},
		req, "UNSIGNED-PAYLOAD", "s3", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	done := make(chan *http.Response, 1)
	go func() {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ExpectContinueTimeout = time.Hour
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	if _, err := pw.Write(first); err != nil {
		t.Fatal(err)
	}
	// The slow PUT has begun: its handler has read the first bytes.
	return func() *http.Response {
		pw.Write(second)
		pw.Close()
		resp := <-done
		if resp != nil {
			resp.Body.Close()
		}
		return resp
	}
}

// TestVersioningChangesMidWrite: a write commits by the versioning state
// its commit sees, not the one its request started with. A PUT begun in an
// unversioned bucket and finished after versioning was enabled keeps the
// version written meanwhile; one begun while suspended cannot replace a
// null version that object lock has since protected.
func TestVersioningChangesMidWrite(t *testing.T) {
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newEnvOn(t, backend)
			ctx := context.Background()
			c := awsFor(e, e.a)
			mustCreate(t, c, "midway")
			b := aws.String("midway")
			enable := func() {
				t.Helper()
				if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: b,
					VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
					t.Fatal(err)
				}
			}
			mustPut(t, c, "midway", "k", []byte("before"))
			finish := slowPut(t, e, "midway", "k", []byte("slow-"), []byte("body!"))
			enable()
			out, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: bytes.NewReader([]byte("v1"))})
			if err != nil {
				t.Fatal(err)
			}
			if resp := finish(); resp == nil || resp.StatusCode != 200 || resp.Header.Get("X-Amz-Version-Id") == "" {
				t.Fatalf("the slow PUT: %+v", resp)
			}
			got, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("k"), VersionId: out.VersionId})
			if string(getBytes(t, got, err)) != "v1" {
				t.Fatal("the version written during the slow PUT is gone")
			}
			got, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("k")})
			if string(getBytes(t, got, err)) != "slow-body!" {
				t.Fatal("the slow PUT is not the current version")
			}
			lv, err := c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: b})
			if err != nil || len(lv.Versions) != 3 || !aws.ToBool(lv.Versions[0].IsLatest) {
				t.Fatalf("versions after the slow PUT: %v %+v", err, lv)
			}

			// Suspended, then protected: the slow null write must not drop
			// the locked null version.
			mustCreate(t, c, "midway-lock")
			lb := aws.String("midway-lock")
			if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: lb,
				VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}}); err != nil {
				t.Fatal(err)
			}
			mustPut(t, c, "midway-lock", "k", []byte("protect me"))
			finish = slowPut(t, e, "midway-lock", "k", []byte("slow-"), []byte("body!"))
			if _, err := c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: lb,
				VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.PutObjectLockConfiguration(ctx, &awss3.PutObjectLockConfigurationInput{Bucket: lb,
				ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled}}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.PutObjectLegalHold(ctx, &awss3.PutObjectLegalHoldInput{Bucket: lb, Key: aws.String("k"), VersionId: aws.String("null"),
				LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn}}); err != nil {
				t.Fatal(err)
			}
			finish()
			got, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: lb, Key: aws.String("k"), VersionId: aws.String("null")})
			if string(getBytes(t, got, err)) != "protect me" {
				t.Fatal("the null version under legal hold was replaced")
			}
		})
	}
}

// TestDeleteObjectsAuthorisesEachEntry: DeleteObjects asks for what each
// entry's own DELETE would: a policy that grants s3:DeleteObject does not
// let another project delete versions for good or bypass GOVERNANCE.
func TestDeleteObjectsAuthorisesEachEntry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := awsFor(e, e.a)
	b := aws.String("entries")
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b, ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:DeleteObject","s3:PutObjectRetention"],"Resource":"arn:aws:s3:::entries/*"}]}`
	if _, err := c.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	plain, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("plain"), Body: bytes.NewReader([]byte("p"))})
	if err != nil {
		t.Fatal(err)
	}
	gov, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("gov"), Body: bytes.NewReader([]byte("g")),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	other := awsFor(e, e.b)
	// The plain delete of a third key is granted, so the request is
	// answered entry by entry; with none granted it would be refused whole.
	dr, err := other.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: b, BypassGovernanceRetention: aws.Bool(true),
		Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("plain"), VersionId: plain.VersionId}, {Key: aws.String("gov"), VersionId: gov.VersionId},
			{Key: aws.String("third")}}}})
	if err != nil || len(dr.Errors) != 2 || len(dr.Deleted) != 1 {
		t.Fatalf("another project's version deletes: %v %+v", err, dr)
	}
	_, err = other.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: b, BypassGovernanceRetention: aws.Bool(true),
		Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("plain"), VersionId: plain.VersionId}, {Key: aws.String("gov"), VersionId: gov.VersionId}}}})
	if errCode(err) != "AccessDenied" {
		t.Fatalf("another project's version deletes, none granted: %v", err)
	}
	// Shortening GOVERNANCE needs s3:BypassGovernanceRetention too.
	if _, err := other.PutObjectRetention(ctx, &awss3.PutObjectRetentionInput{Bucket: b, Key: aws.String("gov"), VersionId: gov.VersionId,
		BypassGovernanceRetention: aws.Bool(true),
		Retention:                 &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(time.Now().Add(time.Minute))}}); errCode(err) != "AccessDenied" {
		t.Fatalf("another project's bypass: %v", err)
	}
	for _, v := range []struct{ key, id string }{{"plain", *plain.VersionId}, {"gov", *gov.VersionId}} {
		if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: b, Key: aws.String(v.key), VersionId: aws.String(v.id)}); err != nil {
			t.Fatalf("%s after another project's attempts: %v", v.key, err)
		}
	}
}
