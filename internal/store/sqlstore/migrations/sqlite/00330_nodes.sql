-- +goose Up
-- The nodes serving this database: each process adds its row at start,
-- refreshes heartbeat_at while it runs and deletes the row on a clean
-- shutdown. A row whose heartbeat stopped is a node that died; it stays
-- listed (as down) until a node of the same name starts again. Addresses
-- are what clients are told (the advertised ones), host:port. Times are
-- unix microseconds.
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    api_addr     TEXT NOT NULL,
    s3_addr      TEXT NOT NULL,
    nbd_addr     TEXT NOT NULL,
    nfs_addr     TEXT NOT NULL,
    version      TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
CREATE INDEX nodes_name ON nodes (name);

-- Secrets every node of a cluster must share and none may make alone: the
-- session signing key, sealed with the master key the nodes share (so a
-- node started with another master key fails at once, saying so).
CREATE TABLE cluster_secrets (
    name   TEXT PRIMARY KEY,
    sealed TEXT NOT NULL
);

-- +goose Down
DROP TABLE cluster_secrets;
DROP TABLE nodes;
