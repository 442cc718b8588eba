package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/errs"
)

// This file persists the S3 data plane's metadata: credentials, buckets,
// objects, multipart uploads and parts. Every object-row change and its
// bucket's usage counters commit in one transaction.

func toJSON(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map of strings always marshals
	return string(b)
}

func fromJSON(s string) (map[string]string, error) {
	if s == "" || s == "{}" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode stored map: %w", err)
	}
	return m, nil
}

// toJSONValue encodes v for a TEXT column, ” when empty says there is
// nothing to keep (so rows without it stay small).
func toJSONValue(v any, empty bool) string {
	if empty {
		return ""
	}
	b, _ := json.Marshal(v) // strings, ints and byte slices always marshal
	return string(b)
}

// fromJSONValue is toJSONValue's inverse; ” leaves v as it is.
func fromJSONValue(s string, v any) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), v)
}

// ---- credentials

func (s *Store) CreateS3Credential(ctx context.Context, c bucket.Credential) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertCredential(ctx, tx, c) })
}

func insertCredential(ctx context.Context, tx *sql.Tx, c bucket.Credential) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO s3_credentials (access_key, project_id, service_id, secret_sealed, description, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.AccessKey, c.ProjectID, c.ServiceID, c.SecretSealed, c.Description, c.CreatedBy, ts(c.Created))
	if err != nil {
		return fmt.Errorf("create s3 credential: %w", mapErr(err))
	}
	return nil
}

const credCols = "access_key, project_id, service_id, secret_sealed, description, created_by, created_at"

func scanCredential(row interface{ Scan(...any) error }) (bucket.Credential, error) {
	var c bucket.Credential
	var created int64
	err := row.Scan(&c.AccessKey, &c.ProjectID, &c.ServiceID, &c.SecretSealed, &c.Description, &c.CreatedBy, &created)
	c.Created = fromTS(created)
	return c, err
}

// S3Credential returns the live credential with this access key.
// A revoked key stops working at once on this node and, on PostgreSQL,
// on every node that listens for invalidations (notify.go).
func (s *Store) S3Credential(ctx context.Context, accessKey string) (bucket.Credential, error) {
	c, gen, ok := cacheGet(&s.hot, &s.hot.creds, accessKey)
	if ok {
		return c, nil
	}
	at := time.Now()
	row := s.hotRow(ctx, "SELECT "+credCols+" FROM s3_credentials WHERE access_key = $1 AND revoked_at IS NULL", accessKey)
	c, err := scanCredential(row)
	if err != nil {
		return c, notFound(err, "s3 credential", accessKey)
	}
	cachePut(&s.hot, &s.hot.creds, accessKey, c, at, gen)
	return c, nil
}

// ListS3Credentials lists a project's live credentials.
func (s *Store) ListS3Credentials(ctx context.Context, projectID string) ([]bucket.Credential, error) {
	q := new(query).add("SELECT "+credCols+" FROM s3_credentials WHERE project_id = ? AND revoked_at IS NULL ORDER BY access_key", projectID)
	return collect(ctx, s.r, q, scanCredential)
}

// RevokeS3Credential revokes a project's credential.
func (s *Store) RevokeS3Credential(ctx context.Context, projectID, accessKey string, at time.Time) error {
	defer s.forget(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE s3_credentials SET revoked_at = $1 WHERE access_key = $2 AND project_id = $3 AND revoked_at IS NULL",
			ts(at), accessKey, projectID)
		if err != nil {
			return mapErr(err)
		}
		return mustAffect(res, "s3 credential", accessKey)
	})
}

// ---- buckets

const bucketCols = "id, name, project_id, service_id, region, acl, policy, versioning, access_block, ownership, cors, object_bytes, object_count, created_at, tier, encryption, object_lock, tags, lifecycle, encryption_key, bucket_key, notification"

func scanBucket(row interface{ Scan(...any) error }) (bucket.Bucket, error) {
	var b bucket.Bucket
	var created int64
	var block, cors, lock, tags, lifecycle, notification string
	var bucketKey int
	err := row.Scan(&b.ID, &b.Name, &b.ProjectID, &b.ServiceID, &b.Region, &b.ACL, &b.Policy, &b.Versioning, &block, &b.Ownership, &cors, &b.Bytes, &b.Objects, &created, &b.Tier, &b.Encryption, &lock, &tags, &lifecycle, &b.EncryptionKey, &bucketKey, &notification)
	if err != nil {
		return b, err
	}
	b.BucketKey = bucketKey != 0
	if err := fromJSONValue(notification, &b.Notifications); err != nil {
		return b, fmt.Errorf("decode notification of bucket %s: %w", b.Name, err)
	}
	if err := fromJSONValue(tags, &b.Tags); err != nil {
		return b, fmt.Errorf("decode tags of bucket %s: %w", b.Name, err)
	}
	if err := fromJSONValue(lifecycle, &b.Lifecycle); err != nil {
		return b, fmt.Errorf("decode lifecycle of bucket %s: %w", b.Name, err)
	}
	if lock != "" {
		b.ObjectLock = new(bucket.ObjectLockConfig)
		if err := json.Unmarshal([]byte(lock), b.ObjectLock); err != nil {
			return b, fmt.Errorf("decode object lock of bucket %s: %w", b.Name, err)
		}
	}
	b.Created = fromTS(created)
	if block != "" {
		b.AccessBlock = new(bucket.AccessBlock)
		if err := json.Unmarshal([]byte(block), b.AccessBlock); err != nil {
			return b, fmt.Errorf("decode access block of bucket %s: %w", b.Name, err)
		}
	}
	if cors != "" {
		if err := json.Unmarshal([]byte(cors), &b.CORS); err != nil {
			return b, fmt.Errorf("decode cors of bucket %s: %w", b.Name, err)
		}
	}
	return b, nil
}

func corsJSON(rules []bucket.CORSRule) string {
	if rules == nil {
		return ""
	}
	out, _ := json.Marshal(rules) // strings and ints always marshal
	return string(out)
}

func accessBlockJSON(b *bucket.AccessBlock) string {
	if b == nil {
		return ""
	}
	out, _ := json.Marshal(b) // four booleans always marshal
	return string(out)
}

// CreateBucket inserts a bucket; a name held by any bucket, live or
// deleted, is errs.Exist.
func (s *Store) CreateBucket(ctx context.Context, b bucket.Bucket) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertBucket(ctx, tx, b) })
}

func insertBucket(ctx context.Context, tx *sql.Tx, b bucket.Bucket) error {
	if b.Tier == "" {
		b.Tier = "standard"
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO buckets (id, name, project_id, service_id, region, acl, policy, versioning, access_block, ownership, cors, created_at, tier, encryption, object_lock, encryption_key, bucket_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		b.ID, b.Name, b.ProjectID, b.ServiceID, b.Region, b.ACL, b.Policy, b.Versioning, accessBlockJSON(b.AccessBlock), b.Ownership, corsJSON(b.CORS), ts(b.Created), b.Tier, b.Encryption,
		toJSONValue(b.ObjectLock, b.ObjectLock == nil), b.EncryptionKey, boolInt(b.BucketKey))
	if errs.Is(mapErr(err), errs.Exist) {
		return errs.Wrap(errs.Exist, fmt.Sprintf("bucket name %q is taken", b.Name), err)
	}
	if err != nil {
		return fmt.Errorf("create bucket: %w", mapErr(err))
	}
	return nil
}

// BucketByName returns a live bucket. The caller decides whether the
// asking project may see it; this lookup is global because bucket names are.
func (s *Store) BucketByName(ctx context.Context, name string) (bucket.Bucket, error) {
	row := s.hotRow(ctx, "SELECT "+bucketCols+" FROM buckets WHERE name = $1 AND deleted_at IS NULL", name)
	b, err := scanBucket(row)
	if err != nil {
		return b, notFound(err, "bucket", name)
	}
	return b, nil
}

// BucketConfig is BucketByName for the S3 data plane's every request: the
// configuration (owner, ACL, policy, CORS…) may come from the hot cache,
// so the usage counters in it may be up to a second old.
func (s *Store) BucketConfig(ctx context.Context, name string) (bucket.Bucket, error) {
	b, gen, ok := cacheGet(&s.hot, &s.hot.buckets, name)
	if ok {
		return b, nil
	}
	at := time.Now()
	b, err := s.BucketByName(ctx, name)
	if err == nil {
		cachePut(&s.hot, &s.hot.buckets, name, b, at, gen)
	}
	return b, err
}

// ListBuckets lists a project's live buckets by name.
func (s *Store) ListBuckets(ctx context.Context, projectID string) ([]bucket.Bucket, error) {
	q := new(query).add("SELECT "+bucketCols+" FROM buckets WHERE project_id = ? AND deleted_at IS NULL ORDER BY name", projectID)
	return collect(ctx, s.r, q, scanBucket)
}

// LifecycleBuckets pages through the live buckets that have lifecycle
// rules, in name order after after, for the lifecycle job.
func (s *Store) LifecycleBuckets(ctx context.Context, after string, limit int) ([]bucket.Bucket, error) {
	q := new(query).add("SELECT "+bucketCols+" FROM buckets WHERE lifecycle <> '' AND deleted_at IS NULL AND name > ? ORDER BY name LIMIT ?", after, limit)
	return collect(ctx, s.r, q, scanBucket)
}

// UpdateBucket stores a bucket's configuration: ACL, policy, public
// access block, object ownership, CORS rules, default encryption, tags and
// lifecycle and notification rules.
// Versioning and object lock have setters of their own, which check their
// rules against the stored state: a caller's copy may be a second old.
func (s *Store) UpdateBucket(ctx context.Context, b bucket.Bucket) error {
	defer s.forget(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE buckets SET acl = $1, policy = $2, access_block = $3, ownership = $4, cors = $5, encryption = $6, tags = $7, lifecycle = $8,
			encryption_key = $10, bucket_key = $11, notification = $12 WHERE id = $9 AND deleted_at IS NULL`,
			b.ACL, b.Policy, accessBlockJSON(b.AccessBlock), b.Ownership, corsJSON(b.CORS), b.Encryption, toJSONValue(b.Tags, len(b.Tags) == 0),
			toJSONValue(b.Lifecycle, len(b.Lifecycle) == 0), b.ID, b.EncryptionKey, boolInt(b.BucketKey), toJSONValue(b.Notifications, len(b.Notifications) == 0))
		if err != nil {
			return mapErr(err)
		}
		return mustAffect(res, "bucket", b.Name)
	})
}

// DeleteBucket turns an empty bucket into a tombstone; a bucket holding
// objects or multipart uploads is errs.Conflict.
func (s *Store) DeleteBucket(ctx context.Context, id string, at time.Time) error {
	defer s.forget(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM objects WHERE bucket_id = $1 LIMIT 1) o)
			+ (SELECT COUNT(*) FROM (SELECT 1 FROM object_versions WHERE bucket_id = $1 LIMIT 1) v)
			+ (SELECT COUNT(*) FROM (SELECT 1 FROM multipart_uploads WHERE bucket_id = $1 LIMIT 1) u)`, id).Scan(&n)
		if err != nil {
			return mapErr(err)
		}
		if n > 0 {
			return errs.E(errs.Conflict, "the bucket you tried to delete is not empty")
		}
		res, err := tx.ExecContext(ctx, "UPDATE buckets SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL", ts(at), id)
		if err != nil {
			return mapErr(err)
		}
		return mustAffect(res, "bucket", id)
	})
}

// DeleteBucketAbortUploads turns a bucket without objects into a
// tombstone, as S3's DeleteBucket does: its multipart uploads in progress
// are aborted in the same transaction and their part blobs returned for the
// caller to delete. A bucket holding objects is errs.Conflict.
func (s *Store) DeleteBucketAbortUploads(ctx context.Context, id string, at time.Time) (partBlobs []string, err error) {
	defer s.forget(ctx)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM objects WHERE bucket_id = $1 LIMIT 1) o)
			+ (SELECT COUNT(*) FROM (SELECT 1 FROM object_versions WHERE bucket_id = $1 LIMIT 1) v)`, id).Scan(&n)
		if err != nil {
			return mapErr(err)
		}
		if n > 0 {
			return errs.E(errs.Conflict, "the bucket you tried to delete is not empty")
		}
		rows, err := tx.QueryContext(ctx, `SELECT p.blob_id FROM multipart_parts p JOIN multipart_uploads u ON u.id = p.upload_id
			WHERE u.bucket_id = $1`, id)
		if err != nil {
			return mapErr(err)
		}
		for rows.Next() {
			var b string
			if err := rows.Scan(&b); err != nil {
				rows.Close()
				return mapErr(err)
			}
			partBlobs = append(partBlobs, b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM multipart_parts WHERE upload_id IN (SELECT id FROM multipart_uploads WHERE bucket_id = $1)", id); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM multipart_uploads WHERE bucket_id = $1", id); err != nil {
			return mapErr(err)
		}
		if err := queueRemovals(ctx, tx, partBlobs); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "UPDATE buckets SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL", ts(at), id)
		if err != nil {
			return mapErr(err)
		}
		return mustAffect(res, "bucket", id)
	})
	return partBlobs, err
}

// ---- objects

const objectCols = "bucket_id, key_name, blob_id, size, etag, meta, checksums, tags, acl, parts, modified_at, sse, part_sizes, inline_data, version_id, seq, lock_mode, lock_until, legal_hold, manifest"

func scanObject(row interface{ Scan(...any) error }) (bucket.Object, error) {
	return scanObjectWith(row)
}

// scanObjectWith reads objectCols followed by the extra columns.
func scanObjectWith(row interface{ Scan(...any) error }, extra ...any) (bucket.Object, error) {
	var o bucket.Object
	var meta, sums, tags, sse, sizes, manifest string
	var mod, until int64
	var hold int
	dest := append([]any{&o.BucketID, &o.Key, &o.BlobID, &o.Size, &o.ETag, &meta, &sums, &tags, &o.ACL, &o.Parts, &mod, &sse, &sizes, &o.Inline,
		&o.VersionID, &o.Seq, &o.Lock.Mode, &until, &hold, &manifest}, extra...)
	if err := row.Scan(dest...); err != nil {
		return o, err
	}
	if until != 0 {
		o.Lock.Until = fromTS(until)
	}
	o.Lock.LegalHold = hold != 0
	o.Modified = fromTS(mod)
	if err := fromJSONValue(sse, &o.SSE); err != nil {
		return o, fmt.Errorf("decode encryption of %s: %w", o.Key, err)
	}
	if err := fromJSONValue(sizes, &o.PartSizes); err != nil {
		return o, fmt.Errorf("decode part sizes of %s: %w", o.Key, err)
	}
	if err := fromJSONValue(manifest, &o.Manifest); err != nil {
		return o, fmt.Errorf("decode manifest of %s: %w", o.Key, err)
	}
	var err error
	if o.Meta, err = fromJSON(meta); err != nil {
		return o, err
	}
	if o.Checksums, err = fromJSON(sums); err != nil {
		return o, err
	}
	o.Tags, err = fromJSON(tags)
	return o, err
}

// GetObject returns the committed object at key.
func (s *Store) GetObject(ctx context.Context, bucketID, key string) (bucket.Object, error) {
	row := s.hotRow(ctx, "SELECT "+objectCols+" FROM objects WHERE bucket_id = $1 AND key_name = $2", bucketID, key)
	o, err := scanObject(row)
	if err != nil {
		return o, notFound(err, "object", key)
	}
	return o, nil
}

// putObject commits o as its key's newest version, as the bucket's
// versioning state, read in the same transaction, says.
// event is the change's name when the context names none, and o's
// events are queued in tx for the rules that want them.
func (s *Store) putObject(ctx context.Context, tx *sql.Tx, o bucket.Object, event string) (bucket.Committed, error) {
	st, err := s.bucketStateIn(ctx, tx, o.BucketID)
	if err != nil {
		return bucket.Committed{}, err
	}
	var c bucket.Committed
	if st.versioning == "" {
		c.Freed, err = s.replaceObject(ctx, tx, o)
	} else {
		c, err = s.putVersion(ctx, tx, o, st.versioning)
	}
	if err != nil {
		return c, err
	}
	return c, queueEvents(ctx, tx, st, bucket.ChangeFacts{Event: bucket.CauseFrom(ctx, event).Event, Key: o.Key, Size: o.Size,
		ETag: o.ETag, VersionID: c.VersionID, At: o.Modified})
}

// The statements of an object commit (PutObject on a bucket never
// versioned, each in its savepoint of a group commit), prepared once on
// SQLite's writer (prepareWrites).
const (
	sqlSavepointPut = "SAVEPOINT put_object"
	sqlRollbackPut  = "ROLLBACK TO put_object"
	sqlReleasePut   = "RELEASE put_object"
	sqlBucketState  = "SELECT versioning, object_lock, name, project_id, region, notification FROM buckets WHERE id = $1 AND deleted_at IS NULL"
	sqlObjectBody   = "SELECT blob_id, size, manifest FROM objects WHERE bucket_id = $1 AND key_name = $2"
	sqlInsertObject = `INSERT INTO objects (` + objectCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`
	sqlUpdateObject = `UPDATE objects SET blob_id = $1, size = $2, etag = $3, meta = $4, checksums = $5, tags = $6, acl = $7, parts = $8, modified_at = $9,
		sse = $10, part_sizes = $11, inline_data = $12, version_id = $13, seq = $14, lock_mode = $15, lock_until = $16, legal_hold = $17, manifest = $18
		WHERE bucket_id = $19 AND key_name = $20`
	sqlBumpUsage = "UPDATE buckets SET object_bytes = object_bytes + $1, object_count = object_count + $2 WHERE id = $3 AND deleted_at IS NULL"
	sqlEndIntent = "DELETE FROM blob_intents WHERE blob_id = $1"
)

// bucketState is what a write reads of its bucket in its transaction:
// the versioning state, the object lock configuration (JSON, "" when
// off), and what the events it announces need.
type bucketState struct {
	versioning, lock    string
	name, owner, region string
	notification        string // JSON rules, "" for none
}

// bucketStateIn reads a bucket's state in tx, so a write acts on the
// state its commit sees, not on what the request saw when it started; on
// PostgreSQL the row stays locked until commit (every write takes it for
// the usage counters anyway).
func (s *Store) bucketStateIn(ctx context.Context, tx *sql.Tx, bucketID string) (bucketState, error) {
	q := sqlBucketState
	if s.engine == Postgres {
		q += " FOR UPDATE"
	}
	var st bucketState
	if err := s.txRow(ctx, tx, q, bucketID).Scan(&st.versioning, &st.lock, &st.name, &st.owner, &st.region, &st.notification); err != nil {
		return st, notFound(err, "bucket", bucketID)
	}
	return st, nil
}

// replaceObject upserts o and moves the bucket's counters by the
// difference, returning the blobs of the bytes it replaced (none for a new
// key or a metadata-only replace).
func (s *Store) replaceObject(ctx context.Context, tx *sql.Tx, o bucket.Object) ([]string, error) {
	var old body
	var oldSize int64
	err := s.txRow(ctx, tx, sqlObjectBody, o.BucketID, o.Key).Scan(&old.blob, &oldSize, &old.manifest)
	if err != nil && err != sql.ErrNoRows {
		return nil, fmt.Errorf("read object: %w", mapErr(err))
	}
	if err := recordManifest(ctx, tx, o.Manifest); err != nil {
		return nil, err
	}
	if err := s.takeBlob(ctx, tx, o.BlobID); err != nil {
		return nil, err
	}
	manifest := manifestValue(o.Manifest)
	if err == sql.ErrNoRows {
		_, err = s.txExec(ctx, tx, sqlInsertObject,
			o.BucketID, o.Key, o.BlobID, o.Size, o.ETag, toJSON(o.Meta), toJSON(o.Checksums), toJSON(o.Tags), aclOrPrivate(o.ACL), o.Parts, ts(o.Modified),
			toJSONValue(o.SSE, o.SSE.Mode == ""), toJSONValue(o.PartSizes, o.PartSizes == nil), inlineData(o), o.VersionID, o.Seq, o.Lock.Mode, lockUntil(o.Lock), boolInt(o.Lock.LegalHold),
			manifest)
		if err != nil {
			return nil, fmt.Errorf("insert object: %w", mapErr(err))
		}
		if err := s.addDirs(ctx, tx, o.BucketID, o.Key); err != nil {
			return nil, err
		}
		return nil, s.bumpUsage(ctx, tx, o.BucketID, o.Size, 1)
	}
	_, err = s.txExec(ctx, tx, sqlUpdateObject,
		o.BlobID, o.Size, o.ETag, toJSON(o.Meta), toJSON(o.Checksums), toJSON(o.Tags), aclOrPrivate(o.ACL), o.Parts, ts(o.Modified),
		toJSONValue(o.SSE, o.SSE.Mode == ""), toJSONValue(o.PartSizes, o.PartSizes == nil), inlineData(o), o.VersionID, o.Seq,
		o.Lock.Mode, lockUntil(o.Lock), boolInt(o.Lock.LegalHold), manifest, o.BucketID, o.Key)
	if err != nil {
		return nil, fmt.Errorf("update object: %w", mapErr(err))
	}
	if err := s.bumpUsage(ctx, tx, o.BucketID, o.Size-oldSize, 0); err != nil {
		return nil, err
	}
	if old.same(body{blob: o.BlobID, manifest: manifest}) {
		return nil, nil // metadata-only replace (copy onto itself), or inline bytes
	}
	return old.free(ctx, tx)
}

// boolInt is a flag as the INTEGER columns hold it on both engines.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lockUntil is the lock_until column: 0 for no retention.
func lockUntil(l bucket.Lock) int64 {
	if l.Until.IsZero() {
		return 0
	}
	return ts(l.Until)
}

// inlineData is the inline_data column of o: NULL when its bytes are a
// blob, never NULL when they are inline (an empty object is zero bytes).
func inlineData(o bucket.Object) any {
	if o.BlobID != "" || len(o.Manifest) > 0 {
		return nil
	}
	if o.Inline == nil {
		return []byte{}
	}
	return o.Inline
}

func (s *Store) bumpUsage(ctx context.Context, tx *sql.Tx, bucketID string, bytes, count int64) error {
	res, err := s.txExec(ctx, tx, sqlBumpUsage, bytes, count, bucketID)
	if err != nil {
		return fmt.Errorf("update bucket usage: %w", mapErr(err))
	}
	return mustAffect(res, "bucket", bucketID)
}

// PutObject commits o as the newest version of its key, with the bucket's
// counters: replacing the object when the bucket was never versioned (or
// its null version when versioning is suspended), keeping the one it
// supersedes as a noncurrent version otherwise. It returns the blobs the
// caller deletes after commit and the version id.
//
// On SQLite, concurrent calls commit together: there is one writer and a
// commit costs an fsync, so PUTs in flight share one transaction (each in
// its own savepoint, so one failing leaves the others) instead of queueing
// for a commit each. The first caller leads; whoever is first in the queue
// when a batch ends leads the next one.
func (s *Store) PutObject(ctx context.Context, o bucket.Object) (c bucket.Committed, err error) {
	if s.engine != SQLite {
		err = s.tx(ctx, func(tx *sql.Tx) error {
			if err := s.lockKey(ctx, tx, o.BucketID, o.Key); err != nil {
				return err
			}
			c, err = s.putObject(ctx, tx, o, bucket.EventPut)
			return err
		})
		return c, err
	}
	me := &putReq{cause: bucket.CauseFrom(ctx, ""), o: o, lead: make(chan bool, 1)}
	g := &s.puts
	g.mu.Lock()
	g.queue = append(g.queue, me)
	leading := !g.busy
	g.busy = true
	g.mu.Unlock()
	// Once queued the request is carried out whatever happens to ctx: the
	// caller must know the outcome before it may delete the blob.
	if !leading && !<-me.lead {
		return me.done, me.err
	}
	g.mu.Lock()
	n := min(len(g.queue), maxPutBatch)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()
	s.commitPuts(context.WithoutCancel(ctx), batch)
	for _, r := range batch {
		if r != me {
			r.lead <- false
		}
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].lead <- true
	} else {
		g.busy = false
	}
	g.mu.Unlock()
	return me.done, me.err
}

// maxPutBatch bounds one group commit.
const maxPutBatch = 256

// putGroup is the queue of object commits waiting for a transaction.
type putGroup struct {
	mu    sync.Mutex
	queue []*putReq
	busy  bool
}

type putReq struct {
	cause bucket.WriteCause // the caller's, for the events it announces
	o     bucket.Object
	done  bucket.Committed
	err   error
	// lead receives true when this request is to lead the next batch,
	// false when its batch is done.
	lead chan bool
}

func (s *Store) commitPuts(ctx context.Context, batch []*putReq) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, r := range batch {
			if _, err := s.txExec(ctx, tx, sqlSavepointPut); err != nil {
				return fmt.Errorf("savepoint: %w", mapErr(err))
			}
			r.done, r.err = s.putObject(bucket.WithCause(ctx, r.cause), tx, r.o, bucket.EventPut)
			if r.err != nil {
				if _, err := s.txExec(ctx, tx, sqlRollbackPut); err != nil {
					return fmt.Errorf("rollback to savepoint: %w", mapErr(err))
				}
			}
			if _, err := s.txExec(ctx, tx, sqlReleasePut); err != nil {
				return fmt.Errorf("release savepoint: %w", mapErr(err))
			}
		}
		return nil
	})
	if err != nil {
		for _, r := range batch {
			r.done = bucket.Committed{}
			if r.err == nil {
				r.err = err
			}
		}
	}
}

// DeleteObject deletes key as S3 does, by the bucket's versioning state
// read in the same transaction: a never versioned bucket loses the object
// (its blob is freed; a missing key is errs.NotExist), a versioned one gets
// a delete marker made at (the null version's bytes are freed when
// suspended). Committed.VersionID is then the marker's.
func (s *Store) DeleteObject(ctx context.Context, bucketID, key string, at time.Time) (c bucket.Committed, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockKey(ctx, tx, bucketID, key); err != nil {
			return err
		}
		st, err := s.bucketStateIn(ctx, tx, bucketID)
		if err != nil {
			return err
		}
		family := bucket.CauseFrom(ctx, bucket.EventRemoved).Event
		c.Versioned = st.versioning != ""
		if c.Versioned {
			vc, err := s.putDeleteMarker(ctx, tx, bucketID, key, st.versioning, at)
			c.Freed, c.VersionID = vc.Freed, vc.VersionID
			if err != nil {
				return err
			}
			return queueEvents(ctx, tx, st, bucket.ChangeFacts{Event: family + bucket.RemovedMarker, Key: key, VersionID: vc.VersionID, At: at})
		}
		var size int64
		var old body
		err = tx.QueryRowContext(ctx, "SELECT blob_id, size, manifest FROM objects WHERE bucket_id = $1 AND key_name = $2", bucketID, key).Scan(&old.blob, &size, &old.manifest)
		if err != nil {
			return notFound(err, "object", key)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM objects WHERE bucket_id = $1 AND key_name = $2", bucketID, key); err != nil {
			return fmt.Errorf("delete object: %w", mapErr(err))
		}
		if err := s.removeDirs(ctx, tx, bucketID, key); err != nil {
			return err
		}
		if c.Freed, err = old.free(ctx, tx); err != nil {
			return err
		}
		if err := s.bumpUsage(ctx, tx, bucketID, -size, -1); err != nil {
			return err
		}
		return queueEvents(ctx, tx, st, bucket.ChangeFacts{Event: family + bucket.RemovedDelete, Key: key, At: at})
	})
	if err != nil {
		c.Freed = nil
	}
	return c, err
}

// ListObjects returns a listing page as q describes: a range scan on the
// primary key (prefix as key >= prefix AND key < PrefixEnd(prefix)), with
// delimiter "/" at the top or at a directory two range scans (listDir),
// or with another delimiter a skip scan (see skipScan). The last two
// return a common prefix as one row alone (no size, ETag or time): its
// first key, or for a subdirectory listDir read its name, which rolls up
// into the same common prefix. The objects carry what listings show
// (key, size, ETag, time, and the metadata of objects that have a
// storage class); fetching and converting the other columns was most of
// a page's cost, and decoding every row's metadata a sixth of what
// remained.
func (s *Store) ListObjects(ctx context.Context, bucketID string, lq bucket.ListQuery) ([]bucket.Object, error) {
	if dirListing(lq) {
		return s.listDir(ctx, bucketID, lq)
	}
	return s.listScan(ctx, bucketID, lq)
}

// listedCols are the columns of objects a listing shows.
const listedCols = `key_name, size, etag, CASE WHEN meta LIKE '%X-Amz-Storage-Class%' THEN meta ELSE '' END, modified_at`

// scanListed reads listedCols.
func scanListed(bucketID string, row interface{ Scan(...any) error }) (bucket.Object, error) {
	o := bucket.Object{BucketID: bucketID}
	var meta string
	var mod int64
	if err := row.Scan(&o.Key, &o.Size, &o.ETag, &meta, &mod); err != nil {
		return o, err
	}
	o.Modified = fromTS(mod)
	var err error
	o.Meta, err = fromJSON(meta)
	return o, err
}

// listScan is ListObjects by range and skip scans.
func (s *Store) listScan(ctx context.Context, bucketID string, lq bucket.ListQuery) ([]bucket.Object, error) {
	q := new(query)
	if lq.Delimiter == "" {
		q.add("SELECT "+listedCols+" FROM objects WHERE bucket_id = ?", bucketID)
		keyRange(q, lq.Prefix, lq.After)
		q.add(" ORDER BY key_name LIMIT ?", lq.Limit)
	} else {
		s.skipScan(q, []string{"objects"}, bucketID, lq.Prefix, lq.Delimiter, func(q *query) { keyRange(q, lq.Prefix, lq.After) }, lq.Limit)
		// The rows of the keys that are not in a common prefix (CROSS JOIN
		// keeps SQLite from scanning the bucket for them), and the key
		// alone of those that are: looking their rows up was half of a
		// page of common prefixes on PostgreSQL.
		q.add(" SELECT "+listedCols+" FROM walk CROSS JOIN objects WHERE bucket_id = ? AND key_name = walk.k AND ", bucketID)
		s.delimiterAt(q, lq.Prefix, lq.Delimiter)
		q.add(" = 0 UNION ALL SELECT walk.k, 0, '', '', 0 FROM walk WHERE walk.k IS NOT NULL AND ")
		s.delimiterAt(q, lq.Prefix, lq.Delimiter)
		q.add(" > 0 ORDER BY 1")
	}
	return collect(ctx, s.r, q, func(row interface{ Scan(...any) error }) (bucket.Object, error) { return scanListed(bucketID, row) })
}

// keyRange restricts a query on key_name to keys starting with prefix and
// greater than after.
func keyRange(q *query, prefix, after string) {
	if after != "" && after >= prefix {
		q.add(" AND key_name > ?", after)
	} else if prefix != "" {
		q.add(" AND key_name >= ?", prefix)
	}
	if end, ok := bucket.PrefixEnd(prefix); ok {
		q.add(" AND key_name < ?", end)
	}
}

func aclOrPrivate(acl string) string {
	if acl == "" {
		return bucket.ACLPrivate
	}
	return acl
}

// SetObjectACL replaces an object's canned ACL.
func (s *Store) SetObjectACL(ctx context.Context, bucketID, key string, version *string, acl string) error {
	return s.setOnVersion(ctx, bucketID, key, version, "acl", aclOrPrivate(acl))
}

// SetObjectTags replaces an object's tags.
func (s *Store) SetObjectTags(ctx context.Context, bucketID, key string, version *string, tags map[string]string) error {
	return s.setOnVersion(ctx, bucketID, key, version, "tags", toJSON(tags))
}

// setOnVersion sets one column of key's current version (version nil) or
// of the version named, current or not, in one statement each, so a PUT
// in between cannot take the change; a delete marker has none to set.
func (s *Store) setOnVersion(ctx context.Context, bucketID, key string, version *string, column string, v any) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		q, args := "UPDATE objects SET "+column+" = $1 WHERE bucket_id = $2 AND key_name = $3", []any{v, bucketID, key}
		if version != nil {
			q, args = q+" AND version_id = $4", append(args, *version)
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return mapErr(err)
		}
		if version == nil {
			return mustAffect(res, "object", key)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return mapErr(err)
		}
		res, err = tx.ExecContext(ctx, "UPDATE object_versions SET "+column+" = $1 WHERE bucket_id = $2 AND key_name = $3 AND version_id = $4 AND delete_marker = 0",
			v, bucketID, key, *version)
		if err != nil {
			return mapErr(err)
		}
		return mustAffect(res, "version", *version)
	})
}

// ---- multipart

const uploadCols = "id, bucket_id, key_name, meta, tags, acl, checksum, created_at, sse, object_lock"

func scanUpload(row interface{ Scan(...any) error }) (bucket.Upload, error) {
	var u bucket.Upload
	var meta, tags, sse, lock string
	var created int64
	if err := row.Scan(&u.ID, &u.BucketID, &u.Key, &meta, &tags, &u.ACL, &u.Checksum, &created, &sse, &lock); err != nil {
		return u, err
	}
	u.Initiated = fromTS(created)
	if err := fromJSONValue(lock, &u.Lock); err != nil {
		return u, fmt.Errorf("decode object lock of upload %s: %w", u.ID, err)
	}
	if err := fromJSONValue(sse, &u.SSE); err != nil {
		return u, fmt.Errorf("decode encryption of upload %s: %w", u.ID, err)
	}
	var err error
	if u.Meta, err = fromJSON(meta); err != nil {
		return u, err
	}
	u.Tags, err = fromJSON(tags)
	return u, err
}

func (s *Store) CreateUpload(ctx context.Context, u bucket.Upload) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO multipart_uploads ("+uploadCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
			u.ID, u.BucketID, u.Key, toJSON(u.Meta), toJSON(u.Tags), aclOrPrivate(u.ACL), u.Checksum, ts(u.Initiated), toJSONValue(u.SSE, u.SSE.Mode == ""),
			toJSONValue(u.Lock, u.Lock == bucket.Lock{}))
		if err != nil {
			return fmt.Errorf("create upload: %w", mapErr(err))
		}
		return nil
	})
}

// GetUpload returns an upload of the bucket.
func (s *Store) GetUpload(ctx context.Context, bucketID, uploadID string) (bucket.Upload, error) {
	row := s.r.QueryRowContext(ctx, "SELECT "+uploadCols+" FROM multipart_uploads WHERE id = $1 AND bucket_id = $2", uploadID, bucketID)
	u, err := scanUpload(row)
	if err != nil {
		return u, notFound(err, "upload", uploadID)
	}
	return u, nil
}

// ListUploads lists a bucket's uploads by key then id, after the
// (keyMarker, idMarker) position, restricted to prefix.
func (s *Store) ListUploads(ctx context.Context, bucketID, prefix, keyMarker, idMarker string, limit int) ([]bucket.Upload, error) {
	q := new(query).add("SELECT "+uploadCols+" FROM multipart_uploads WHERE bucket_id = ? AND key_name >= ?", bucketID, prefix)
	if end, ok := bucket.PrefixEnd(prefix); ok {
		q.add(" AND key_name < ?", end)
	}
	if keyMarker != "" {
		q.add(" AND (key_name > ? OR (key_name = ? AND id > ?))", keyMarker, keyMarker, idMarker)
	}
	q.add(" ORDER BY key_name, id LIMIT ?", limit)
	return collect(ctx, s.r, q, scanUpload)
}

const partCols = "upload_id, part_number, blob_id, size, etag, checksums, modified_at, iv"

func scanPart(row interface{ Scan(...any) error }) (bucket.Part, error) {
	var p bucket.Part
	var sums, iv string
	var mod int64
	if err := row.Scan(&p.UploadID, &p.Number, &p.BlobID, &p.Size, &p.ETag, &sums, &mod, &iv); err != nil {
		return p, err
	}
	p.Modified = fromTS(mod)
	var err error
	if p.IV, err = base64.StdEncoding.DecodeString(iv); err != nil {
		return p, fmt.Errorf("decode iv of part %d: %w", p.Number, err)
	}
	if len(p.IV) == 0 {
		p.IV = nil
	}
	p.Checksums, err = fromJSON(sums)
	return p, err
}

// PutPart records a part (replacing one with the same number) and returns
// the blob id it replaced. A vanished upload is errs.NotExist.
func (s *Store) PutPart(ctx context.Context, p bucket.Part) (replaced string, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM multipart_uploads WHERE id = $1", p.UploadID).Scan(&one); err != nil {
			return notFound(err, "upload", p.UploadID)
		}
		err := tx.QueryRowContext(ctx, "SELECT blob_id FROM multipart_parts WHERE upload_id = $1 AND part_number = $2", p.UploadID, p.Number).Scan(&replaced)
		if err != nil && err != sql.ErrNoRows {
			return mapErr(err)
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, "UPDATE multipart_parts SET blob_id = $1, size = $2, etag = $3, checksums = $4, modified_at = $5, iv = $6 WHERE upload_id = $7 AND part_number = $8",
				p.BlobID, p.Size, p.ETag, toJSON(p.Checksums), ts(p.Modified), base64.StdEncoding.EncodeToString(p.IV), p.UploadID, p.Number)
		} else {
			_, err = tx.ExecContext(ctx, "INSERT INTO multipart_parts ("+partCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
				p.UploadID, p.Number, p.BlobID, p.Size, p.ETag, toJSON(p.Checksums), ts(p.Modified), base64.StdEncoding.EncodeToString(p.IV))
		}
		if err != nil {
			return fmt.Errorf("put part: %w", mapErr(err))
		}
		if replaced != "" {
			if err := queueRemovals(ctx, tx, []string{replaced}); err != nil {
				return err
			}
		}
		return s.takeBlob(ctx, tx, p.BlobID)
	})
	if err != nil {
		replaced = ""
	}
	return replaced, err
}

// ListParts lists an upload's parts numbered above after.
func (s *Store) ListParts(ctx context.Context, uploadID string, after, limit int) ([]bucket.Part, error) {
	q := new(query).add("SELECT "+partCols+" FROM multipart_parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?", uploadID, after, limit)
	return collect(ctx, s.r, q, scanPart)
}

func partBlobs(ctx context.Context, tx *sql.Tx, uploadID string) ([]string, error) {
	return blobIDs(ctx, tx, "SELECT blob_id FROM multipart_parts WHERE upload_id = $1", uploadID)
}

// CompleteUpload replaces the upload and its parts with object o in one
// transaction, returning the blobs o replaced and the part blobs o's
// manifest does not name (parts uploaded but left out of the completion),
// which the caller deletes after commit. The parts o names stay where
// they are: o's manifest now owns them.
func (s *Store) CompleteUpload(ctx context.Context, bucketID, uploadID string, o bucket.Object) (c bucket.Committed, unused []string, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM multipart_uploads WHERE id = $1 AND bucket_id = $2", uploadID, bucketID).Scan(&one); err != nil {
			return notFound(err, "upload", uploadID)
		}
		parts, err := deleteUpload(ctx, tx, uploadID)
		if err != nil {
			return err
		}
		named := make(map[string]bool, len(o.Manifest))
		for _, id := range o.Manifest {
			named[id] = true
		}
		for _, id := range parts {
			if named[id] {
				delete(named, id)
			} else {
				unused = append(unused, id)
			}
		}
		if len(named) > 0 {
			return fmt.Errorf("complete upload %s: the manifest names blobs that are not its parts", uploadID)
		}
		if err := queueRemovals(ctx, tx, unused); err != nil {
			return err
		}
		if err := s.lockKey(ctx, tx, o.BucketID, o.Key); err != nil {
			return err
		}
		c, err = s.putObject(ctx, tx, o, bucket.EventComplete)
		return err
	})
	if err != nil {
		unused = nil
	}
	return c, unused, err
}

func deleteUpload(ctx context.Context, tx *sql.Tx, uploadID string) ([]string, error) {
	blobs, err := partBlobs(ctx, tx, uploadID)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM multipart_parts WHERE upload_id = $1", uploadID); err != nil {
		return nil, mapErr(err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM multipart_uploads WHERE id = $1", uploadID); err != nil {
		return nil, mapErr(err)
	}
	return blobs, nil
}

// AbortUpload drops an upload and returns its part blobs.
func (s *Store) AbortUpload(ctx context.Context, bucketID, uploadID string) (parts []string, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM multipart_uploads WHERE id = $1 AND bucket_id = $2", uploadID, bucketID).Scan(&one); err != nil {
			return notFound(err, "upload", uploadID)
		}
		if parts, err = deleteUpload(ctx, tx, uploadID); err != nil {
			return err
		}
		return queueRemovals(ctx, tx, parts)
	})
	return parts, err
}

// LiveBlobs reports which of ids an object or a part refers to; the
// object store's GC deletes the rest.
func (s *Store) LiveBlobs(ctx context.Context, ids []string) (map[string]bool, error) {
	live := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return live, nil
	}
	err := inBatches(ids, func(args []any) error {
		in := inList(len(args))
		rows, err := s.r.QueryContext(ctx, "SELECT blob_id FROM objects WHERE blob_id IN ("+in+") UNION SELECT blob_id FROM multipart_parts WHERE blob_id IN ("+in+
			") UNION SELECT blob_id FROM object_versions WHERE blob_id IN ("+in+") UNION SELECT blob_id FROM manifest_blobs WHERE blob_id IN ("+in+")", args...)
		if err != nil {
			return mapErr(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return mapErr(err)
			}
			live[id] = true
		}
		return mapErr(rows.Err())
	})
	return live, err
}
