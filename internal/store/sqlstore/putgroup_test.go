package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/store/sqlstore"
)

// TestPutGroupSavepoints: concurrent PutObjects on SQLite share group
// commits through the prepared savepoint statements; one failing in a
// batch (its bucket is gone) is rolled back to its savepoint and leaves
// the others committed, with the bucket's counters, and the store keeps
// committing afterwards.
func TestPutGroupSavepoints(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stowage.db")
	st, err := sqlstore.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	for _, q := range []string{
		fmt.Sprintf("INSERT INTO organisations (id, name, created_at) VALUES ('org-1', 'org', %d)", now.Unix()),
		fmt.Sprintf("INSERT INTO projects (id, organisation_id, name, created_at) VALUES ('project-1', 'org-1', 'p', %d)", now.Unix()),
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateBucket(ctx, bucket.Bucket{ID: "bucket-1", Name: "b1", ProjectID: "project-1", Region: "local-1", ACL: "private", Created: now}); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		const n = 32
		var wg sync.WaitGroup
		errc := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := "bucket-1"
				if i%4 == 3 {
					b = "no-such-bucket"
				}
				data := []byte(fmt.Sprintf("body %d", i))
				_, errc[i] = st.PutObject(ctx, bucket.Object{BucketID: b, Key: fmt.Sprintf("k%d", i), Inline: data, Size: int64(len(data)),
					ETag: "e", Modified: now})
			}()
		}
		wg.Wait()
		for i, err := range errc {
			if i%4 == 3 {
				if !errs.Is(err, errs.NotExist) {
					t.Fatalf("round %d: put %d into a missing bucket: %v", round, i, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("round %d: put %d: %v", round, i, err)
			}
			o, err := st.GetObject(ctx, "bucket-1", fmt.Sprintf("k%d", i))
			if err != nil || string(o.Inline) != fmt.Sprintf("body %d", i) {
				t.Fatalf("round %d: object %d reads back %q, %v", round, i, o.Inline, err)
			}
		}
		var count int64
		if err := db.QueryRowContext(ctx, "SELECT object_count FROM buckets WHERE id = 'bucket-1'").Scan(&count); err != nil || count != n*3/4 {
			t.Fatalf("round %d: bucket counts %d objects, want %d (%v)", round, count, n*3/4, err)
		}
	}
}
