-- +goose Up
-- Small objects kept with their metadata: inline_data holds the stored
-- bytes (encrypted when the object is) of an object whose blob_id is '',
-- so a small PUT is durable with its row's commit instead of a file, its
-- fsync and its directory's. The column comes last so that listings, which
-- read the columns before it, never touch the bytes.
ALTER TABLE objects ADD COLUMN inline_data BLOB;

-- +goose Down
ALTER TABLE objects DROP COLUMN inline_data;
