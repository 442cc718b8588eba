-- +goose Up
-- A bucket's event notification rules (PutBucketNotificationConfiguration)
-- as a JSON list; '' for none.
ALTER TABLE buckets ADD COLUMN notification TEXT NOT NULL DEFAULT '';

-- Webhooks a project registered as targets of its buckets' event
-- notifications, named within the project (the name is the last part of
-- the ARN a rule gives). The secret that signs deliveries is sealed under
-- the master key.
CREATE TABLE notification_targets (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects (id),
    name          TEXT NOT NULL,
    url           TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    created_by    TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- +goose Down
DROP TABLE notification_targets;
ALTER TABLE buckets DROP COLUMN notification;
