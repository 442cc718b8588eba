-- +goose Up
-- A snapshot's key/value metadata, kept whole as a volume's is
-- (CloudSigma's snapshot meta).
ALTER TABLE snapshots ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE snapshots DROP COLUMN metadata;
