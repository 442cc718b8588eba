-- +goose Up
-- Times are unix microseconds (BIGINT) on both engines so values compare and
-- round-trip identically; ids are UUIDv7 text, so ordering by id is ordering
-- by creation.
CREATE TABLE organisations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

CREATE TABLE projects (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    UNIQUE (organisation_id, name)
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL DEFAULT '',
    full_name     TEXT NOT NULL DEFAULT '',
    staff         BOOLEAN NOT NULL DEFAULT FALSE,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL
);
CREATE INDEX users_email ON users (email);

-- A membership grants a role on one organisation (and so all its projects)
-- or on one project.
CREATE TABLE memberships (
    user_id    TEXT NOT NULL REFERENCES users (id),
    scope      TEXT NOT NULL CHECK (scope IN ('organisation', 'project')),
    scope_id   TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, scope, scope_id)
);
CREATE INDEX memberships_scope ON memberships (scope, scope_id);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    project_id   TEXT REFERENCES projects (id),
    name         TEXT NOT NULL DEFAULT '',
    hash         TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX tokens_user ON tokens (user_id);

-- +goose Down
DROP TABLE tokens;
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE projects;
DROP TABLE organisations;
