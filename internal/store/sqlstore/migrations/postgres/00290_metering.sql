-- +goose Up
-- Usage rows: what one metered resource used of one component over
-- [from_ts, to_ts) (unix seconds, UTC). A row with level >= 0 held that
-- constant level (bytes, or objects) the whole time, so its usage is
-- level × seconds, exact whatever the sample interval; an unchanged level
-- extends its row instead of adding one. A row with level = -1 carries
-- its usage in amount: a counter's hour (requests, bytes moved) or the
-- day a retention fold merged rows into. parent_id ties a bucket to its
-- object-storage service and a snapshot to its volume, which is what a
-- marketplace resource points at.
CREATE TABLE usage_rows (
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    component     TEXT NOT NULL,
    from_ts       BIGINT NOT NULL,
    to_ts         BIGINT NOT NULL,
    project_id    TEXT NOT NULL,
    parent_id     TEXT NOT NULL DEFAULT '',
    level         BIGINT NOT NULL,
    amount        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (resource_type, resource_id, component, from_ts)
);
CREATE INDEX usage_rows_project ON usage_rows (project_id, from_ts);
CREATE INDEX usage_rows_from ON usage_rows (from_ts);

-- The level each component of each live resource was last sampled at,
-- and when: the usage from then until the next sample is at that level.
CREATE TABLE meter_levels (
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    component     TEXT NOT NULL,
    project_id    TEXT NOT NULL,
    parent_id     TEXT NOT NULL DEFAULT '',
    level         BIGINT NOT NULL,
    at            BIGINT NOT NULL,
    PRIMARY KEY (resource_type, resource_id, component)
);

-- Volumes and snapshots whose rows were deleted, written in the deleting
-- transaction with the level they held and when their deletion was asked
-- for, so that their last interval closes at that time even when they
-- lived and died between two samples. The sampler consumes them.
CREATE TABLE meter_ends (
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    component     TEXT NOT NULL,
    project_id    TEXT NOT NULL,
    parent_id     TEXT NOT NULL DEFAULT '',
    level         BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    ended_at      BIGINT NOT NULL,
    PRIMARY KEY (resource_type, resource_id, component)
);

-- +goose Down
DROP TABLE meter_ends;
DROP TABLE meter_levels;
DROP TABLE usage_rows;
