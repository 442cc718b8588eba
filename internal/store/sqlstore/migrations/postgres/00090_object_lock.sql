-- +goose Up
-- Object lock (WORM). buckets.object_lock is the bucket's configuration as
-- JSON (enabled, default retention mode and days or years), '' when object
-- lock is off. Every object version has its retention (lock_mode
-- GOVERNANCE or COMPLIANCE, '' for none; lock_until in unix microseconds)
-- and legal hold; a multipart upload keeps the lock its object will get.
ALTER TABLE buckets ADD COLUMN object_lock TEXT NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN lock_mode TEXT NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN lock_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;
ALTER TABLE object_versions ADD COLUMN lock_mode TEXT NOT NULL DEFAULT '';
ALTER TABLE object_versions ADD COLUMN lock_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE object_versions ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;
ALTER TABLE multipart_uploads ADD COLUMN object_lock TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE multipart_uploads DROP COLUMN object_lock;
ALTER TABLE object_versions DROP COLUMN legal_hold;
ALTER TABLE object_versions DROP COLUMN lock_until;
ALTER TABLE object_versions DROP COLUMN lock_mode;
ALTER TABLE objects DROP COLUMN legal_hold;
ALTER TABLE objects DROP COLUMN lock_until;
ALTER TABLE objects DROP COLUMN lock_mode;
ALTER TABLE buckets DROP COLUMN object_lock;
