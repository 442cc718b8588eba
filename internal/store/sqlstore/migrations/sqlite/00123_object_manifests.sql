-- +goose Up
-- A multipart object's bytes stay in the blobs its parts were written to:
-- manifest is the JSON array of those blob ids in part order (part_sizes
-- gives their sizes), '' for an object held in one blob or inline. Complete
-- then records the list instead of copying every byte.
ALTER TABLE objects ADD COLUMN manifest TEXT NOT NULL DEFAULT '';
ALTER TABLE object_versions ADD COLUMN manifest TEXT NOT NULL DEFAULT '';
-- manifest_blobs names every blob some manifest refers to, so that asking
-- whether a blob is referenced (the local store's orphan collection) stays
-- an index lookup; rows go in the transaction that frees the object.
CREATE TABLE manifest_blobs (
    blob_id TEXT PRIMARY KEY
);
-- A backend that cannot list its storage cheaply (RADOS) records every
-- blob here before its first byte is written; the transaction that makes
-- the blob an object's or a part's deletes the row. A row older than the
-- sweeper's cutoff names a blob no commit took: its bytes are removed.
CREATE TABLE blob_intents (
    blob_id    TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
CREATE INDEX blob_intents_created ON blob_intents (created_at);
-- Blobs a committed transaction freed (a delete, an overwrite, an abort):
-- the request removes their bytes right after commit, and the sweeper
-- finishes what a crash in between left.
CREATE TABLE blob_removals (
    blob_id   TEXT PRIMARY KEY,
    queued_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE blob_removals;
DROP TABLE blob_intents;
DROP TABLE manifest_blobs;
ALTER TABLE object_versions DROP COLUMN manifest;
ALTER TABLE objects DROP COLUMN manifest;
