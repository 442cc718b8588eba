-- +goose Up
-- A volume's backup policy: back it up into bucket every every_hours and
-- keep the newest keep_last backups plus the newest of each of the last
-- keep_daily days and keep_weekly weeks. next_run is when the scheduler
-- queues the next backup (unix microseconds). The backups themselves live
-- in the bucket (docs/backup-format.md).
CREATE TABLE backup_policies (
    volume_id   TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL,
    bucket      TEXT NOT NULL,
    every_hours INTEGER NOT NULL,
    keep_last   INTEGER NOT NULL,
    keep_daily  INTEGER NOT NULL,
    keep_weekly INTEGER NOT NULL,
    next_run    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX backup_policies_due ON backup_policies (next_run);

-- +goose Down
DROP TABLE backup_policies;
