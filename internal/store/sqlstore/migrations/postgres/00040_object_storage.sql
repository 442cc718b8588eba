-- +goose Up
-- An object-storage service is what an object-storage order creates: a
-- storage limit over its buckets, with credentials of its own (like a Ceph
-- RGW user). Deleted services keep their row for the order history.
CREATE TABLE object_storage_services (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects (id),
    name          TEXT NOT NULL,
    region        TEXT NOT NULL,
    tier          TEXT NOT NULL DEFAULT 'standard',
    storage_limit BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    modified_at   BIGINT NOT NULL,
    deleted_at    BIGINT
);
CREATE INDEX object_storage_services_project ON object_storage_services (project_id, id);

ALTER TABLE buckets ADD COLUMN tier TEXT NOT NULL DEFAULT 'standard';
CREATE INDEX buckets_service ON buckets (service_id);

-- +goose Down
DROP INDEX buckets_service;
ALTER TABLE buckets DROP COLUMN tier;
DROP TABLE object_storage_services;
