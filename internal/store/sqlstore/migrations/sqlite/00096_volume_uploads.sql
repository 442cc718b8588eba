-- +goose Up
-- An upload in progress: the image's size and the byte ranges received so
-- far (JSON [[offset, length], …], merged), so an upload resumes where it
-- stopped, also after a restart. The row goes when the upload completes.
CREATE TABLE volume_uploads (
    volume_id  TEXT PRIMARY KEY,
    total      BIGINT NOT NULL,
    received   TEXT NOT NULL DEFAULT '[]',
    updated_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE volume_uploads;
