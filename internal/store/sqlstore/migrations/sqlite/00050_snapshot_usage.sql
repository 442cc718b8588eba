-- +goose Up
-- Bytes only a snapshot holds, as last measured; counted in the project's
-- storage usage.
ALTER TABLE snapshots ADD COLUMN exclusive_bytes BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE snapshots DROP COLUMN exclusive_bytes;
