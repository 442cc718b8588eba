//go:build ceph

package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/internal/objectstore"
	"github.com/stowage/stowage/internal/rados"
)

// brokenBody fails after n bytes, as a client that goes away mid-PUT.
type brokenBody struct{ n int }

func (b *brokenBody) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), b.n)
	b.n -= k
	return k, nil
}

// TestRADOSSweep: a workload through aws-sdk-go-v2 on RADOS bodies
// (PUTs of one and several stripes, overwrites, deletes, multipart
// completed and aborted) plus what crashes leave (blobs written and never
// committed, a PUT cut off mid-body, a delete committed whose bytes were
// never removed), then the sweeper: every stale intent is swept, every
// queued removal done, and no RADOS object is left that metadata does not
// name (leaked = 0), while every object still reads back whole. Without
// listing the pool: only the test lists it, to count.
func TestRADOSSweep(t *testing.T) {
	ctx := context.Background()
	e := newEnvOn(t, "postgres")
	if e.pool == nil {
		t.Fatal("TEST_CEPH_CONF is not set: run this with `make test-ceph`")
	}
	pool := e.pool.(*radosPool)
	c := awsFor(e, e.a)
	mustCreate(t, c, "sweep")
	want := map[string][]byte{}
	put := func(k string, data []byte) {
		t.Helper()
		mustPut(t, c, "sweep", k, data)
		want[k] = data
	}
	put("small", []byte("inline"))
	put("one", randomBytes(t, 100<<10))
	put("three", randomBytes(t, 2*rados.StripeSize+5))
	put("one", randomBytes(t, 200<<10)) // overwrite: the old blob is queued and removed
	put("gone", randomBytes(t, 300<<10))
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("sweep"), Key: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	delete(want, "gone")
	mp := func(k string, complete bool) {
		t.Helper()
		up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("sweep"), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		parts := [][]byte{randomBytes(t, 5<<20), randomBytes(t, 7)}
		var done []types.CompletedPart
		for i, p := range parts {
			out, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("sweep"), Key: aws.String(k), UploadId: up.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
			if err != nil {
				t.Fatal(err)
			}
			done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))})
		}
		if !complete {
			if _, err := c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: aws.String("sweep"), Key: aws.String(k), UploadId: up.UploadId}); err != nil {
				t.Fatal(err)
			}
			return
		}
		if _, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("sweep"), Key: aws.String(k),
			UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
			t.Fatal(err)
		}
		want[k] = bytes.Join(parts, nil)
	}
	mp("multi", true)
	mp("aborted", false)

	// What crashes leave: two blobs written whose commit never came, a PUT
	// cut off mid-body, and a delete committed whose bytes stayed.
	for _, n := range []int{1 << 10, rados.StripeSize + 1} {
		if _, err := pool.store.Put(ctx, bytes.NewReader(randomBytes(t, n)), objectstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.store.Put(ctx, &brokenBody{n: 2*rados.StripeSize + 3}, objectstore.PutOptions{}); err == nil {
		t.Fatal("a broken body was stored")
	}
	bk, err := e.store.BucketByName(ctx, "sweep")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.DeleteObject(ctx, bk.ID, "three", time.Now()); err != nil { // the request's own delete never ran
		t.Fatal(err)
	}
	delete(want, "three")

	created := pool.store.IntentsRecorded()
	// Intents are stale only after the cutoff: a sweep now takes none.
	early, err := objectstore.Sweep(ctx, e.store, pool.store, time.Now().Add(-time.Hour))
	if err != nil || early.Intents != 0 {
		t.Fatalf("early sweep: %+v %v", early, err)
	}
	swept, err := objectstore.Sweep(ctx, e.store, pool.store, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	intents, removals, err := e.store.BlobQueueCounts(ctx)
	if err != nil || intents != 0 || removals != 0 {
		t.Fatalf("after the sweep %d intents and %d removals are left (%v)", intents, removals, err)
	}
	// Leaked: RADOS objects whose blob metadata does not name.
	var names []string
	pool.each(t, false, func(name string, _ []byte) { names = append(names, name) })
	ids := map[string]bool{}
	for _, n := range names {
		ids[strings.SplitN(n, ".", 2)[0]] = true
	}
	var list []string
	for id := range ids {
		list = append(list, id)
	}
	live, err := e.store.LiveBlobs(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	leaked := 0
	for _, n := range names {
		if !live[strings.SplitN(n, ".", 2)[0]] {
			leaked++
		}
	}
	t.Logf("intents created %d, swept %d (%d RADOS objects), queued removals done %d, leaked %d", created, swept.Intents, swept.Objects, early.Removals+swept.Removals, leaked)
	// Every blob written recorded one: 4 PUTs over InlineMax, 4 parts,
	// the 3 blobs of the crashes (the broken PUT removed its own stripes).
	// Removals: the overwritten and the deleted blob, the two aborted
	// parts, and the blob of "three" whose delete never removed it.
	if created != 11 || swept.Intents != 3 || swept.Objects != 3 || early.Removals+swept.Removals != 5 || leaked != 0 {
		t.Fatalf("created %d, swept %d intents (%d objects), leaked %d RADOS objects of %v", created, swept.Intents, swept.Objects, leaked, names)
	}
	for k, data := range want {
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("sweep"), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s reads back %d bytes, %v", k, len(got), err)
		}
	}
}
