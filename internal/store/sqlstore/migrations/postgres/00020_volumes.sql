-- +goose Up
-- Volumes, snapshots, instances and their attachments: the control-plane
-- records of the block service. Data lives in the backend under backend_id.
CREATE TABLE volumes (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id),
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    size_bytes   BIGINT NOT NULL,
    type         TEXT NOT NULL,
    zone         TEXT NOT NULL,
    status       TEXT NOT NULL,
    bootable     BOOLEAN NOT NULL DEFAULT FALSE,
    media        TEXT NOT NULL DEFAULT 'disk',
    multiattach  BOOLEAN NOT NULL DEFAULT FALSE,
    metadata     TEXT NOT NULL DEFAULT '{}',
    tags         TEXT NOT NULL DEFAULT '[]',
    source_type  TEXT NOT NULL DEFAULT '',
    source_id    TEXT NOT NULL DEFAULT '',
    backend_id   TEXT NOT NULL,
    error        TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX volumes_project ON volumes (project_id, id);

CREATE TABLE snapshots (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id),
    volume_id    TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    size_bytes   BIGINT NOT NULL,
    status       TEXT NOT NULL,
    backend_id   TEXT NOT NULL,
    kept_until   BIGINT,
    restorations TEXT NOT NULL DEFAULT '[]',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX snapshots_project ON snapshots (project_id, id);
CREATE INDEX snapshots_volume ON snapshots (volume_id);

CREATE TABLE instances (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id),
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    power_state  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX instances_project ON instances (project_id, id);

-- An attachment is also an NBD export: export_name is the unguessable name
-- a hypervisor connects to. Read-only exports of snapshots have no instance.
CREATE TABLE attachments (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id),
    volume_id    TEXT NOT NULL,
    snapshot_id  TEXT NOT NULL DEFAULT '',
    instance_id  TEXT NOT NULL DEFAULT '',
    export_name  TEXT NOT NULL UNIQUE,
    read_only    BOOLEAN NOT NULL DEFAULT FALSE,
    state        TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX attachments_volume ON attachments (volume_id);

-- Limits per project; NULL means unlimited.
CREATE TABLE volume_quotas (
    project_id    TEXT PRIMARY KEY REFERENCES projects (id),
    storage_bytes BIGINT,
    volumes       BIGINT,
    snapshots     BIGINT
);

-- Usage counters, changed in the same transaction as each intent so that
-- the row lock serialises concurrent reservations.
CREATE TABLE volume_usage (
    project_id    TEXT PRIMARY KEY REFERENCES projects (id),
    storage_bytes BIGINT NOT NULL DEFAULT 0,
    volumes       BIGINT NOT NULL DEFAULT 0,
    snapshots     BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    project_id    TEXT,
    user_id       TEXT NOT NULL DEFAULT '',
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    detail        TEXT NOT NULL DEFAULT '{}',
    created_at    BIGINT NOT NULL
);
CREATE INDEX events_project ON events (project_id, id);

-- +goose Down
DROP TABLE events;
DROP TABLE volume_usage;
DROP TABLE volume_quotas;
DROP TABLE attachments;
DROP TABLE instances;
DROP TABLE snapshots;
DROP TABLE volumes;
