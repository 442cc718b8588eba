-- +goose Up
-- Who made each S3 key, so that losing the member role takes the keys a
-- user made with it. Keys of object-storage services keep '' (they are
-- the service's and are rotated instead); keys from before this column
-- keep '' too.
ALTER TABLE s3_credentials ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
CREATE INDEX s3_credentials_creator ON s3_credentials (project_id, created_by);

-- +goose Down
DROP INDEX s3_credentials_creator;
ALTER TABLE s3_credentials DROP COLUMN created_by;
