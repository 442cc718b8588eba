-- +goose Up
-- Projects' own SSE-KMS keys (internal/core/kms). material is the key's
-- 256 bits sealed under the master key; alias is '' for none and unique
-- in the project otherwise; deletion_at is when a key pending deletion is
-- destroyed (unix microseconds, 0 otherwise). Destroying a key deletes its
-- row, material and all.
-- buckets.encryption_key is the KMSMasterKeyID of a bucket's default
-- aws:kms encryption as the client named it, and bucket_key its
-- BucketKeyEnabled (0 or 1).
CREATE TABLE kms_keys (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL,
    alias       TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL,
    material    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    deletion_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX kms_keys_project ON kms_keys (project_id, id);
CREATE UNIQUE INDEX kms_keys_alias ON kms_keys (project_id, alias) WHERE alias <> '';
CREATE INDEX kms_keys_deletion ON kms_keys (deletion_at) WHERE deletion_at > 0;
ALTER TABLE buckets ADD COLUMN encryption_key TEXT NOT NULL DEFAULT '';
ALTER TABLE buckets ADD COLUMN bucket_key INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE buckets DROP COLUMN bucket_key;
ALTER TABLE buckets DROP COLUMN encryption_key;
DROP TABLE kms_keys;
