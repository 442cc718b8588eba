-- +goose Up
-- A bucket's tag set (PutBucketTagging) as a JSON object, '' for none.
ALTER TABLE buckets ADD COLUMN tags TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE buckets DROP COLUMN tags;
