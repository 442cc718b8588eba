package sqlstore_test

import (
	"context"
	"fmt"
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
	st, db, _, _ := openEngine(t, sqlstore.SQLite)
	now := time.Now()
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
