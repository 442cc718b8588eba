-- +goose Up
-- S3 access controls added after 00010 shipped: per-object canned ACLs
-- (objects and the uploads that will become them), and per-bucket
-- PublicAccessBlock (JSON), ObjectOwnership and CORS rules (JSON); '' means
-- not configured.
ALTER TABLE objects ADD COLUMN acl TEXT NOT NULL DEFAULT 'private';
ALTER TABLE multipart_uploads ADD COLUMN acl TEXT NOT NULL DEFAULT 'private';
ALTER TABLE buckets ADD COLUMN access_block TEXT NOT NULL DEFAULT '';
ALTER TABLE buckets ADD COLUMN ownership TEXT NOT NULL DEFAULT '';
ALTER TABLE buckets ADD COLUMN cors TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE buckets DROP COLUMN cors;
ALTER TABLE buckets DROP COLUMN ownership;
ALTER TABLE buckets DROP COLUMN access_block;
ALTER TABLE multipart_uploads DROP COLUMN acl;
ALTER TABLE objects DROP COLUMN acl;
