-- +goose Up
-- S3 metadata. Object keys sort in UTF-8 byte order: SQLite's default
-- BINARY collation compares bytes (PostgreSQL needs COLLATE "C"), so prefix
-- scans are ranges key_name >= $1 AND key_name < $2, never LIKE.

-- An S3 access key belongs to a project, optionally narrowed to one
-- object-storage service. The secret is sealed with the master key.
CREATE TABLE s3_credentials (
    access_key    TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects (id),
    service_id    TEXT NOT NULL DEFAULT '',
    secret_sealed TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX s3_credentials_project ON s3_credentials (project_id);

-- Bucket names are global and never reused: a deleted bucket keeps its row
-- as a tombstone (deleted_at set), which holds the UNIQUE name.
CREATE TABLE buckets (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    project_id   TEXT NOT NULL REFERENCES projects (id),
    service_id   TEXT NOT NULL DEFAULT '',
    region       TEXT NOT NULL,
    acl          TEXT NOT NULL DEFAULT 'private',
    policy       TEXT NOT NULL DEFAULT '',
    versioning   TEXT NOT NULL DEFAULT '',
    object_bytes BIGINT NOT NULL DEFAULT 0,
    object_count BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    deleted_at   BIGINT
);
CREATE INDEX buckets_project ON buckets (project_id, name);

-- Usage counters on buckets change in the same transaction as these rows.
CREATE TABLE objects (
    bucket_id   TEXT NOT NULL REFERENCES buckets (id),
    key_name    TEXT NOT NULL COLLATE "C",
    blob_id     TEXT NOT NULL,
    size        BIGINT NOT NULL,
    etag        TEXT NOT NULL,
    meta        TEXT NOT NULL DEFAULT '{}',
    checksums   TEXT NOT NULL DEFAULT '{}',
    tags        TEXT NOT NULL DEFAULT '{}',
    parts       INTEGER NOT NULL DEFAULT 0,
    modified_at BIGINT NOT NULL,
    PRIMARY KEY (bucket_id, key_name)
);
CREATE INDEX objects_blob ON objects (blob_id);

CREATE TABLE multipart_uploads (
    id         TEXT PRIMARY KEY,
    bucket_id  TEXT NOT NULL REFERENCES buckets (id),
    key_name   TEXT NOT NULL COLLATE "C",
    meta       TEXT NOT NULL DEFAULT '{}',
    tags       TEXT NOT NULL DEFAULT '{}',
    checksum   TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX multipart_uploads_key ON multipart_uploads (bucket_id, key_name, id);

CREATE TABLE multipart_parts (
    upload_id   TEXT NOT NULL REFERENCES multipart_uploads (id),
    part_number INTEGER NOT NULL,
    blob_id     TEXT NOT NULL,
    size        BIGINT NOT NULL,
    etag        TEXT NOT NULL,
    checksums   TEXT NOT NULL DEFAULT '{}',
    modified_at BIGINT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
CREATE INDEX multipart_parts_blob ON multipart_parts (blob_id);

-- +goose Down
DROP TABLE multipart_parts;
DROP TABLE multipart_uploads;
DROP TABLE objects;
DROP TABLE buckets;
DROP TABLE s3_credentials;
