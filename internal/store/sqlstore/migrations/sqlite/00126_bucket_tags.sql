-- +goose Up
-- A bucket's tag set (PutBucketTagging) as a JSON object, and its lifecycle
-- rules (PutBucketLifecycleConfiguration) as a JSON list; '' for none.
ALTER TABLE buckets ADD COLUMN tags TEXT NOT NULL DEFAULT '';
ALTER TABLE buckets ADD COLUMN lifecycle TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE buckets DROP COLUMN lifecycle;
ALTER TABLE buckets DROP COLUMN tags;
