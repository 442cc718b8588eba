-- +goose Up
-- Object versions. objects keeps the current version of each key, as
-- before: version_id is its S3 version id ('' for the "null" version) and
-- seq orders the versions of a key (a time-ordered id given at commit,
-- newest highest; '' for objects written before versioning). Noncurrent
-- versions and delete markers live in object_versions, the same columns
-- keyed by (bucket, key, seq); when the newest version of a key is a delete
-- marker, objects has no row for it. Usage counters count every version.
ALTER TABLE objects ADD COLUMN version_id TEXT NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN seq TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE TABLE object_versions (
    bucket_id     TEXT NOT NULL REFERENCES buckets (id),
    key_name      TEXT COLLATE "C" NOT NULL,
    seq           TEXT COLLATE "C" NOT NULL,
    version_id    TEXT NOT NULL,
    delete_marker INTEGER NOT NULL DEFAULT 0,
    blob_id       TEXT NOT NULL,
    size          BIGINT NOT NULL,
    etag          TEXT NOT NULL,
    meta          TEXT NOT NULL DEFAULT '{}',
    checksums     TEXT NOT NULL DEFAULT '{}',
    tags          TEXT NOT NULL DEFAULT '{}',
    acl           TEXT NOT NULL DEFAULT 'private',
    parts         INTEGER NOT NULL DEFAULT 0,
    modified_at   BIGINT NOT NULL,
    sse           TEXT NOT NULL DEFAULT '',
    part_sizes    TEXT NOT NULL DEFAULT '',
    inline_data   BYTEA,
    PRIMARY KEY (bucket_id, key_name, seq)
);
CREATE INDEX object_versions_blob ON object_versions (blob_id);

-- +goose Down
DROP TABLE object_versions;
ALTER TABLE objects DROP COLUMN seq;
ALTER TABLE objects DROP COLUMN version_id;
