package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/store/sqlstore"
	"github.com/stowage/stowage/internal/testenv"
)

// openEngine opens a store on a fresh database of engine with one empty
// bucket, a second connection to look at its tables, and its DSN.
func openEngine(t testing.TB, engine sqlstore.Engine) (st *sqlstore.Store, db *sql.DB, bucketID, dsn string) {
	t.Helper()
	ctx := context.Background()
	driver, raw := "pgx", ""
	if engine == sqlstore.Postgres {
		dsn = testenv.FreshPostgres(t)
		raw = dsn
	} else {
		path := filepath.Join(t.TempDir(), "stowage.db")
		dsn, driver, raw = "sqlite:"+path, "sqlite", "file:"+path+"?_pragma=busy_timeout(10000)"
	}
	st, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db, err = sql.Open(driver, raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now()
	for _, q := range []string{
		fmt.Sprintf("INSERT INTO organisations (id, name, created_at) VALUES ('org-1', 'org', %d)", now.Unix()),
		fmt.Sprintf("INSERT INTO projects (id, organisation_id, name, created_at) VALUES ('project-1', 'org-1', 'p', %d)", now.Unix()),
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	bucketID = "bucket-1"
	if err := st.CreateBucket(ctx, bucket.Bucket{ID: bucketID, Name: "b1", ProjectID: "project-1", Region: "local-1", ACL: "private", Created: now}); err != nil {
		t.Fatal(err)
	}
	return st, db, bucketID, dsn
}

// eachEngine runs test on SQLite and on PostgreSQL.
func eachEngine(t *testing.T, test func(t *testing.T, engine sqlstore.Engine)) {
	for _, engine := range []sqlstore.Engine{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(engine), func(t *testing.T) { test(t, engine) })
	}
}

// dirRow is one row of object_dirs.
type dirRow struct{ Parent, Dir string }

// checkDirs requires object_dirs to hold exactly the directories of the
// keys of objects: every prefix of a key that ends in "/", with its
// parent.
func checkDirs(t testing.TB, db *sql.DB, what string) {
	t.Helper()
	want := map[string][]dirRow{}
	seen := map[string]bool{}
	keys, err := db.Query("SELECT bucket_id, key_name FROM objects")
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	for keys.Next() {
		var b, k string
		if err := keys.Scan(&b, &k); err != nil {
			t.Fatal(err)
		}
		for i := range len(k) {
			if k[i] != '/' || seen[b+"\x00"+k[:i+1]] {
				continue
			}
			seen[b+"\x00"+k[:i+1]] = true
			parent := k[:strings.LastIndexByte(k[:i], '/')+1]
			want[b] = append(want[b], dirRow{parent, k[:i+1]})
		}
	}
	got := map[string][]dirRow{}
	rows, err := db.Query("SELECT bucket_id, parent, dir FROM object_dirs")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var b string
		var r dirRow
		if err := rows.Scan(&b, &r.Parent, &r.Dir); err != nil {
			t.Fatal(err)
		}
		got[b] = append(got[b], r)
	}
	for _, m := range []map[string][]dirRow{want, got} {
		for _, l := range m {
			sort.Slice(l, func(i, j int) bool { return l[i].Dir < l[j].Dir })
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("%s: object_dirs differs from the directories of objects (-want +got):\n%s", what, diff)
	}
}

// dirAlphabet makes keys with nested directories, keys ending in "/",
// empty path segments, multi-byte characters and characters on both
// sides of "/" in byte order.
var dirAlphabet = []string{"a", "b", "/", "/", "é", "\U0001D11E", "\uE000", ".", "0"}

// listed is a listing row as the S3 handler reads it: a key with what it
// shows, or a common prefix alone.
type listed struct {
	Item, ETag string
	Prefix     bool
	Size       int64
	Modified   time.Time
}

func asListed(rows []bucket.Object, prefix string) []listed {
	out := make([]listed, 0, len(rows))
	for _, o := range rows {
		l := listed{Item: o.Key, ETag: o.ETag, Size: o.Size, Modified: o.Modified}
		if i := strings.IndexByte(o.Key[len(prefix):], '/'); i >= 0 {
			l.Item, l.Prefix = o.Key[:len(prefix)+i+1], true
		}
		out = append(out, l)
	}
	return out
}

// TestDirListingMatchesSkipScan lists random trees of keys at the top
// and at every directory (and at directories that do not exist), from
// every key and common prefix and from points between them, with small
// and large pages, through ListObjects (two range reads over
// object_dirs) and through the skip scan, and requires the same keys,
// with the same sizes, ETags and times, and the same common prefixes.
func TestDirListingMatchesSkipScan(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine sqlstore.Engine) {
		ctx := context.Background()
		st, db, bid, _ := openEngine(t, engine)
		rng := rand.New(rand.NewPCG(3, 4))
		word := func(n int) string {
			var b strings.Builder
			for range n {
				b.WriteString(dirAlphabet[rng.IntN(len(dirAlphabet))])
			}
			return b.String()
		}
		set := map[string]bool{"a": true, "a/x": true, "a/": true, "a/b/": true, "a/b/c": true, "/": true, "//x": true, "é/\U0001D11E/z": true}
		for len(set) < 160 {
			set[word(1+rng.IntN(7))] = true
		}
		var keys []string
		for k := range set {
			keys = append(keys, k)
			if _, err := st.PutObject(ctx, bucket.Object{BucketID: bid, Key: k, Inline: []byte(k), Size: int64(len(k)), ETag: "e-" + k,
				Modified: time.UnixMicro(int64(1000 + len(keys)))}); err != nil {
				t.Fatal(err)
			}
		}
		sort.Strings(keys)
		checkDirs(t, db, "after the puts")
		prefixes := []string{"", "zz/", "a/b/c/", "\U0001D11E/"}
		for _, k := range keys {
			for i := range len(k) {
				if k[i] == '/' && !slices.Contains(prefixes, k[:i+1]) {
					prefixes = append(prefixes, k[:i+1])
				}
			}
		}
		queries := 0
		for _, prefix := range prefixes {
			full, err := st.ListObjectsSkipScan(ctx, bid, bucket.ListQuery{Prefix: prefix, Delimiter: "/", Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			afters := []string{"", prefix, strings.TrimSuffix(prefix, "/"), word(2), word(4)}
			for _, o := range full {
				afters = append(afters, o.Key, o.Key+"\x01")
				if i := strings.IndexByte(o.Key[len(prefix):], '/'); i >= 0 {
					afters = append(afters, o.Key[:len(prefix)+i+1], o.Key[:len(prefix)+i])
				}
			}
			for _, after := range afters {
				for _, limit := range []int{1, 2, 3, 1000} {
					lq := bucket.ListQuery{Prefix: prefix, After: after, Delimiter: "/", Limit: limit}
					want, err := st.ListObjectsSkipScan(ctx, bid, lq)
					if err != nil {
						t.Fatal(err)
					}
					got, err := st.ListObjects(ctx, bid, lq)
					if err != nil {
						t.Fatal(err)
					}
					queries++
					if diff := cmp.Diff(asListed(want, prefix), asListed(got, prefix)); diff != "" {
						t.Fatalf("prefix %q after %q limit %d: (-skip scan +directory listing)\n%s", prefix, after, limit, diff)
					}
				}
			}
		}
		t.Logf("%d listings over %d keys and %d prefixes agree", queries, len(keys), len(prefixes))
	})
}

// TestObjectDirsMaintained changes a bucket's keys in every way that
// adds or removes a current key (puts, overwrites, deletes, versioned
// delete markers, version deletes that restore an older version or a
// deleted key, lifecycle expiry with and without versioning, multipart
// completes) and checks object_dirs against objects after each step; a
// migration onto existing objects fills it the same way.
func TestObjectDirsMaintained(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine sqlstore.Engine) {
		ctx := context.Background()
		st, db, bid, _ := openEngine(t, engine)
		now := time.Now()
		put := func(key string) bucket.Committed {
			t.Helper()
			c, err := st.PutObject(ctx, bucket.Object{BucketID: bid, Key: key, Inline: []byte("x"), Size: 1, ETag: "e", Modified: now})
			if err != nil {
				t.Fatalf("put %s: %v", key, err)
			}
			return c
		}
		del := func(key string) bucket.Committed {
			t.Helper()
			c, err := st.DeleteObject(ctx, bid, key, now)
			if err != nil {
				t.Fatalf("delete %s: %v", key, err)
			}
			return c
		}
		delVersion := func(key, vid string) {
			t.Helper()
			if _, err := st.DeleteVersion(ctx, bid, key, vid, func(bucket.Object) error { return nil }); err != nil {
				t.Fatalf("delete version %s of %s: %v", vid, key, err)
			}
		}
		for _, k := range []string{"a/b/c", "a/b/d", "a/e", "a/", "x/y/", "top", "é/\U0001D11E/z", "//k"} {
			put(k)
		}
		put("a/b/c") // overwrite
		checkDirs(t, db, "puts")
		for _, k := range []string{"a/b/c", "x/y/", "//k", "a/b/d"} {
			del(k)
			checkDirs(t, db, "delete "+k)
		}

		if err := st.SetVersioning(ctx, bid, bucket.VersioningEnabled); err != nil {
			t.Fatal(err)
		}
		v1 := put("v/w/k").VersionID
		v2 := put("v/w/k").VersionID
		checkDirs(t, db, "versioned puts")
		marker := del("v/w/k").VersionID
		checkDirs(t, db, "delete marker")
		delVersion("v/w/k", marker) // v2 is current again
		checkDirs(t, db, "delete marker removed")
		delVersion("v/w/k", v2) // v1 is promoted
		checkDirs(t, db, "current version removed")
		delVersion("v/w/k", v1) // no version left
		checkDirs(t, db, "last version removed")

		// Lifecycle expiry: a delete marker in a versioned bucket, a
		// delete in a never versioned one.
		put("exp/v/1")
		cur, err := st.GetObject(ctx, bid, "exp/v/1")
		if err != nil {
			t.Fatal(err)
		}
		if n, _, err := st.ExpireObjects(ctx, bid, []bucket.Object{cur}, now); err != nil || n != 1 {
			t.Fatalf("expire in a versioned bucket: %d, %v", n, err)
		}
		checkDirs(t, db, "versioned expiry")

		// Multipart complete into a new directory.
		u := bucket.Upload{ID: "up-1", BucketID: bid, Key: "mp/dir/obj", Initiated: now}
		if err := st.CreateUpload(ctx, u); err != nil {
			t.Fatal(err)
		}
		if _, err := st.PutPart(ctx, bucket.Part{UploadID: u.ID, Number: 1, BlobID: "blob-part-1", Size: 5, ETag: "p1", Modified: now}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.CompleteUpload(ctx, bid, u.ID, bucket.Object{BucketID: bid, Key: u.Key, Size: 5, ETag: "m-1", Parts: 1,
			Manifest: []string{"blob-part-1"}, Modified: now}); err != nil {
			t.Fatal(err)
		}
		checkDirs(t, db, "multipart complete")

		// Expiry in a bucket never versioned deletes the key.
		if err := st.CreateBucket(ctx, bucket.Bucket{ID: "bucket-2", Name: "b2", ProjectID: "project-1", Region: "local-1", ACL: "private", Created: now}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.PutObject(ctx, bucket.Object{BucketID: "bucket-2", Key: "exp/u/1", Inline: []byte("x"), Size: 1, ETag: "e", Modified: now}); err != nil {
			t.Fatal(err)
		}
		checkDirs(t, db, "put into a second bucket")
		if n, _, err := st.ExpireObjects(ctx, "bucket-2", []bucket.Object{{Key: "exp/u/1", Modified: now}}, now); err != nil || n != 1 {
			t.Fatalf("expire in a bucket never versioned: %d, %v", n, err)
		}
		checkDirs(t, db, "expiry")
		// Its bucket, empty now, is deleted without a row left behind.
		if err := st.DeleteBucket(ctx, "bucket-2", now); err != nil {
			t.Fatal(err)
		}
		var left int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM object_dirs WHERE bucket_id = 'bucket-2'").Scan(&left); err != nil || left != 0 {
			t.Fatalf("a deleted bucket keeps %d directories (%v)", left, err)
		}
		// Suspended versioning: a null version put, then its marker.
		if err := st.SetVersioning(ctx, bid, bucket.VersioningSuspended); err != nil {
			t.Fatal(err)
		}
		put("s/n/1")
		put("s/n/1")
		checkDirs(t, db, "null version puts")
		del("s/n/1")
		checkDirs(t, db, "null delete marker")
	})
}

// TestObjectDirsMigration applies the migration that makes object_dirs
// to a database whose objects exist already: it fills the table with
// their directories.
func TestObjectDirsMigration(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine sqlstore.Engine) {
		ctx := context.Background()
		st, db, bid, dsn := openEngine(t, engine)
		for _, q := range []string{"DROP INDEX objects_dirname", "DROP TABLE object_dirs", "DELETE FROM goose_db_version WHERE version_id = 340"} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		for i, k := range []string{"a/b/c", "a/b/d", "a/e", "a/", "x/y/", "top", "é/\U0001D11E/z", "//k", "/", "p/q/r/s/t"} {
			if _, err := db.ExecContext(ctx, "INSERT INTO objects (bucket_id, key_name, blob_id, size, etag, modified_at) VALUES ($1, $2, '', 0, 'e', $3)",
				bid, k, i); err != nil {
				t.Fatal(err)
			}
		}
		st.Close()
		st2, err := sqlstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		st2.Close()
		checkDirs(t, db, "migration")
	})
}

// TestObjectDirsRace races, in many directories at once and round
// after round, the PUT of a key into a directory against the DELETE of
// the directory's only other key, and checks object_dirs against
// objects after each round: the directory must stay (a key is in it),
// and no directory may be left without keys. On PostgreSQL this fails
// when the directory rows change before the bucket's row is locked. A
// later write to the directory would mend what a race broke, so the
// check is made before one.
func TestObjectDirsRace(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine sqlstore.Engine) {
		ctx := context.Background()
		st, db, bid, _ := openEngine(t, engine)
		const dirs, rounds = 8, 25
		key := func(d, k int) string { return fmt.Sprintf("t%d/r%d/k%d", d%2, d, k) }
		for d := range dirs {
			if _, err := st.PutObject(ctx, bucket.Object{BucketID: bid, Key: key(d, 1), Inline: []byte("x"), Size: 1, ETag: "e", Modified: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		for r := range rounds {
			// Each directory holds key r%2+1 only; put the other, delete it.
			in, out := r%2, (r+1)%2
			start := make(chan struct{})
			var wg sync.WaitGroup
			errc := make(chan error, 2*dirs)
			for d := range dirs {
				wg.Add(2)
				go func() {
					defer wg.Done()
					<-start
					if _, err := st.PutObject(ctx, bucket.Object{BucketID: bid, Key: key(d, in), Inline: []byte("x"), Size: 1, ETag: "e", Modified: time.Now()}); err != nil {
						errc <- err
					}
				}()
				go func() {
					defer wg.Done()
					<-start
					if _, err := st.DeleteObject(ctx, bid, key(d, out), time.Now()); err != nil {
						errc <- err
					}
				}()
			}
			close(start)
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			checkDirs(t, db, fmt.Sprintf("round %d", r))
		}
	})
}

// BenchmarkDirListing times, on each engine, a page of 1000 keys, the
// bucket's top with delimiter "/" (1000 common prefixes, by object_dirs)
// and the same page by the skip scan, over 10,000, 200,000 and
// 1,000,000 keys in 2000 directories, and reports each as a ratio to
// the page of keys timed in the same iterations (the goal: about 1,
// whatever the bucket's size).
//
//	go test ./internal/store/sqlstore -run '^$' -bench DirListing
func BenchmarkDirListing(b *testing.B) {
	const dirs = 2000
	for _, engine := range []sqlstore.Engine{sqlstore.SQLite, sqlstore.Postgres} {
		for _, keys := range []int{10000, 200000, 1000000} {
			b.Run(fmt.Sprintf("%s/%dk", engine, keys/1000), func(b *testing.B) {
				ctx := context.Background()
				st, db, bid, _ := openEngine(b, engine)
				fill := "WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < $2) " +
					"SELECT $1, printf('p%04d/%08d', n / $3, n), '', 0, 'e', 0 FROM i"
				if engine == sqlstore.Postgres {
					fill = "SELECT $1, format('p%s/%s', lpad((n / $3)::text, 4, '0'), lpad(n::text, 8, '0')), '', 0, 'e', 0 FROM generate_series(0, $2::int - 1) n"
				}
				// The keys straight into objects and their directories into
				// object_dirs, as the migration records them: puts would take
				// minutes.
				for _, f := range []struct {
					q    string
					args []any
				}{
					{"INSERT INTO objects (bucket_id, key_name, blob_id, size, etag, modified_at) " + fill, []any{bid, keys, keys / dirs}},
					{"INSERT INTO object_dirs (bucket_id, parent, dir) SELECT DISTINCT bucket_id, '', rtrim(key_name, replace(key_name, '/', '')) FROM objects " +
						"WHERE bucket_id = $1 ON CONFLICT DO NOTHING", []any{bid}},
					{"ANALYZE", nil},
				} {
					if _, err := db.ExecContext(ctx, f.q, f.args...); err != nil {
						b.Fatalf("%s: %v", f.q, err)
					}
				}
				pages := []struct {
					name string
					list func(context.Context, string, bucket.ListQuery) ([]bucket.Object, error)
					q    bucket.ListQuery
				}{
					{"keys", st.ListObjects, bucket.ListQuery{Limit: 1000}},
					{"dirs", st.ListObjects, bucket.ListQuery{Delimiter: "/", Limit: 1000}},
					{"skipscan", st.ListObjectsSkipScan, bucket.ListQuery{Delimiter: "/", Limit: 1000}},
				}
				// Medians: on a shared machine a burst of load lands on a few
				// pages, which a sum would carry.
				spent := make([][]time.Duration, len(pages))
				b.ResetTimer()
				for range b.N {
					for i, p := range pages {
						t0 := time.Now()
						rows, err := p.list(ctx, bid, p.q)
						if err != nil || len(rows) != 1000 {
							b.Fatalf("%s: %d rows, %v", p.name, len(rows), err)
						}
						spent[i] = append(spent[i], time.Since(t0))
					}
				}
				median := func(d []time.Duration) float64 { slices.Sort(d); return float64(d[len(d)/2]) }
				for i, p := range pages[1:] {
					b.ReportMetric(median(spent[i+1])/median(spent[0]), p.name+"/keys")
				}
				b.ReportMetric(median(spent[0])/1e6, "ms/keys-page")
			})
		}
	}
}
