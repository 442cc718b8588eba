-- +goose Up
-- Server-side encryption and part sizes. objects.sse and
-- multipart_uploads.sse hold the encryption as JSON (mode, sealed data key,
-- SSE-C key MD5, counter starts), '' meaning plain bytes; multipart_parts.iv
-- is a part's counter start (base64). objects.part_sizes is a multipart
-- object's part sizes as a JSON array, '' when not known.
-- buckets.encryption is the default encryption of new objects ('' none).
ALTER TABLE objects ADD COLUMN sse TEXT NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN part_sizes TEXT NOT NULL DEFAULT '';
ALTER TABLE multipart_uploads ADD COLUMN sse TEXT NOT NULL DEFAULT '';
ALTER TABLE multipart_parts ADD COLUMN iv TEXT NOT NULL DEFAULT '';
ALTER TABLE buckets ADD COLUMN encryption TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE buckets DROP COLUMN encryption;
ALTER TABLE multipart_parts DROP COLUMN iv;
ALTER TABLE multipart_uploads DROP COLUMN sse;
ALTER TABLE objects DROP COLUMN part_sizes;
ALTER TABLE objects DROP COLUMN sse;
