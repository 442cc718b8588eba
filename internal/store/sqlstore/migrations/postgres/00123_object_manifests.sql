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

-- +goose Down
DROP TABLE manifest_blobs;
ALTER TABLE object_versions DROP COLUMN manifest;
ALTER TABLE objects DROP COLUMN manifest;
