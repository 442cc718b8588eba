package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// listScale fills a bucket of its own with keys keys spread over prefixes
// directories ("p0042/00001234", once: a later run reuses them) and times
// the listing pages that should cost the same however big the bucket is:
// the first 1000 keys, 1000 keys from the middle, the first 1000 keys of
// one directory (alone, and with the delimiter as `aws s3 ls dir/` asks),
// and the bucket root with delimiter "/", which rolls every key up into
// the directories' common prefixes. Each page is timed reps times; the
// table shows medians and each page's ratio to the first page, measured
// in the same run, which is what to compare across servers and loads.
//
// The fill runs at the server's PUT rate: Stowage on SQLite took 5
// minutes for 200,000 keys on a busy 2-core machine. For a million, put
// the rows straight into Stowage's database (its bucket made first, e.g.
// with `stowage bucket create bench-s3-scale-1000000-100`); the test
// finds the last key and skips its fill. On SQLite, with per = keys /
// prefixes rounded up:
//
//	INSERT INTO objects (bucket_id, key_name, blob_id, size, etag, meta, modified_at)
//	WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < 1000000)
//	SELECT (SELECT id FROM buckets WHERE name = 'bench-s3-scale-1000000-100' AND deleted_at IS NULL),
//	       printf('p%04d/%08d', n / 10000, n), '', 0, 'd41d8cd98f00b204e9800998ecf8427e', '{}', 0 FROM i;
//
// and on PostgreSQL the same with generate_series(0, 999999) for i and
// format('p%s/%s', lpad((n / 10000)::text, 4, '0'), lpad(n::text, 8, '0')),
// then VACUUM ANALYZE objects. On both, then record the directories
// (object_dirs, which the store keeps for delimiter listings):
//
//	INSERT INTO object_dirs (bucket_id, parent, dir)
//	SELECT DISTINCT bucket_id, '', rtrim(key_name, replace(key_name, '/', '')) FROM objects
//	WHERE bucket_id = (SELECT id FROM buckets WHERE name = 'bench-s3-scale-1000000-100' AND deleted_at IS NULL)
//	ON CONFLICT DO NOTHING;
func listScale(ctx context.Context, cl *awss3.Client, c config) ([]metric, error) {
	if c.scaleKeys < 2 || c.scalePrefixes < 1 || c.scalePrefixes > 10000 || c.reps < 1 {
		return nil, fmt.Errorf("listscale needs -scale-keys ≥ 2, -scale-prefixes from 1 to 10000 and -reps ≥ 1")
	}
	b := fmt.Sprintf("%s-scale-%d-%d", c.bucket, c.scaleKeys, c.scalePrefixes)
	if _, err := cl.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
		if _, herr := cl.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(b)}); herr != nil {
			return nil, fmt.Errorf("create bucket: %w", err)
		}
	}
	perPrefix := (c.scaleKeys + c.scalePrefixes - 1) / c.scalePrefixes
	keyOf := func(i int) string { return fmt.Sprintf("p%04d/%08d", i/perPrefix, i) }
	last, err := cl.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(b), StartAfter: aws.String(keyOf(c.scaleKeys - 2)), MaxKeys: aws.Int32(1)})
	if err != nil {
		return nil, err
	}
	if len(last.Contents) == 0 || *last.Contents[0].Key != keyOf(c.scaleKeys-1) {
		if err := fill(ctx, cl, b, c.scaleKeys, keyOf); err != nil {
			return nil, err
		}
	}
	mid := keyOf(c.scaleKeys / 2)
	dir := keyOf(c.scaleKeys / 2)[:6]
	pages := []struct {
		name string
		in   awss3.ListObjectsV2Input
	}{
		{"first page", awss3.ListObjectsV2Input{}},
		{"middle page", awss3.ListObjectsV2Input{StartAfter: aws.String(mid)}},
		{"prefix page", awss3.ListObjectsV2Input{Prefix: aws.String(dir)}},
		{"prefix+delimiter page", awss3.ListObjectsV2Input{Prefix: aws.String(dir), Delimiter: aws.String("/")}},
		{"root delimiter page", awss3.ListObjectsV2Input{Delimiter: aws.String("/")}},
	}
	times := make([][]time.Duration, len(pages))
	counts := make([]int, len(pages))
	// Rounds interleave the pages, so a burst of load on a shared machine
	// lands on all of them alike.
	for range c.reps {
		for i, p := range pages {
			in := p.in
			in.Bucket = aws.String(b)
			t0 := time.Now()
			out, err := cl.ListObjectsV2(ctx, &in)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.name, err)
			}
			times[i] = append(times[i], time.Since(t0))
			counts[i] = len(out.Contents) + len(out.CommonPrefixes)
		}
	}
	fmt.Printf("LIST scale: %d keys in %d prefixes, median of %d\n", c.scaleKeys, c.scalePrefixes, c.reps)
	base := median(times[0])
	var out []metric
	for i, p := range pages {
		m := median(times[i])
		fmt.Printf("  %-22s %5d items  %8.2f ms  %5.2fx first page\n", p.name, counts[i], ms(m), float64(m)/float64(base))
		out = append(out, metric{fmt.Sprintf("%dk keys: %s", c.scaleKeys/1000, p.name), ms(m), "ms", true})
	}
	return out, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// fill puts the n keys keyOf names (empty objects) from 32 workers.
func fill(ctx context.Context, cl *awss3.Client, b string, n int, keyOf func(int) string) error {
	t0 := time.Now()
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n && firstErr.Load() == nil; i = int(next.Add(1) - 1) {
				if _, err := cl.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(keyOf(i)),
					ContentLength: aws.Int64(0)}); err != nil {
					firstErr.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return fmt.Errorf("fill %s: %w", b, *e)
	}
	fmt.Printf("LIST scale: filled %d keys in %.0f s\n", n, time.Since(t0).Seconds())
	return nil
}
