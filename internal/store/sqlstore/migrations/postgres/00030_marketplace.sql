-- +goose Up
-- The catalog and the order lifecycle. Components, prices, attributes and
-- limits are JSON text: they are read and written whole with their row.
CREATE TABLE offerings (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    kind              TEXT NOT NULL,
    type              TEXT NOT NULL,
    volume_type       TEXT NOT NULL DEFAULT '',
    category          TEXT NOT NULL DEFAULT '',
    state             TEXT NOT NULL,
    shared            BOOLEAN NOT NULL DEFAULT TRUE,
    billable          BOOLEAN NOT NULL DEFAULT TRUE,
    provider_approval BOOLEAN NOT NULL DEFAULT FALSE,
    components        TEXT NOT NULL DEFAULT '[]',
    created_at        BIGINT NOT NULL,
    modified_at       BIGINT NOT NULL
);

CREATE TABLE plans (
    id           TEXT PRIMARY KEY,
    offering_id  TEXT NOT NULL REFERENCES offerings (id),
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    unit         TEXT NOT NULL,
    prices       TEXT NOT NULL DEFAULT '{}',
    init_price   TEXT NOT NULL DEFAULT '0',
    switch_price TEXT NOT NULL DEFAULT '0',
    archived     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT NOT NULL
);
CREATE INDEX plans_offering ON plans (offering_id);

CREATE TABLE marketplace_resources (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects (id),
    offering_id   TEXT NOT NULL REFERENCES offerings (id),
    plan_id       TEXT NOT NULL DEFAULT '',
    name          TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL,
    attributes    TEXT NOT NULL DEFAULT '{}',
    limits        TEXT NOT NULL DEFAULT '{}',
    scope_type    TEXT NOT NULL DEFAULT '',
    scope_id      TEXT NOT NULL DEFAULT '',
    backend_id    TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    modified_at   BIGINT NOT NULL
);
CREATE INDEX marketplace_resources_project ON marketplace_resources (project_id, id);

CREATE TABLE orders (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects (id),
    offering_id   TEXT NOT NULL REFERENCES offerings (id),
    plan_id       TEXT NOT NULL DEFAULT '',
    resource_id   TEXT NOT NULL REFERENCES marketplace_resources (id),
    type          TEXT NOT NULL,
    state         TEXT NOT NULL,
    attributes    TEXT NOT NULL DEFAULT '{}',
    limits        TEXT NOT NULL DEFAULT '{}',
    cost          TEXT NOT NULL DEFAULT '',
    created_by    TEXT NOT NULL,
    consumer_by   TEXT NOT NULL DEFAULT '',
    consumer_at   BIGINT,
    provider_by   TEXT NOT NULL DEFAULT '',
    provider_at   BIGINT,
    error_message TEXT NOT NULL DEFAULT '',
    old_plan_id   TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    modified_at   BIGINT NOT NULL,
    completed_at  BIGINT
);
CREATE INDEX orders_project ON orders (project_id, id);
CREATE INDEX orders_resource ON orders (resource_id, state);

-- +goose Down
DROP TABLE orders;
DROP TABLE marketplace_resources;
DROP TABLE plans;
DROP TABLE offerings;
