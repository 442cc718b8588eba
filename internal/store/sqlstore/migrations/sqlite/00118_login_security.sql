-- +goose Up
-- Login attempts counted per key (a user, an unknown login, a client
-- address) in a fixed window, here rather than in one node's memory so the
-- limit holds across nodes. window_start is unix microseconds.
CREATE TABLE login_attempts (
    login_key    TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    attempts     INTEGER NOT NULL
);
CREATE INDEX login_attempts_window ON login_attempts (window_start);

-- A password change moves the user to a new sessions generation; sessions
-- carry the generation they were issued in.
ALTER TABLE users ADD COLUMN session_gen BIGINT NOT NULL DEFAULT 0;

-- Sessions ended by logout, kept until they would have expired.
CREATE TABLE ended_sessions (
    id         TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ended_sessions_expiry ON ended_sessions (expires_at);

-- The token that made a token, so that revoking one revokes the other.
ALTER TABLE tokens ADD COLUMN parent_id TEXT;
CREATE INDEX tokens_parent ON tokens (parent_id);

-- +goose Down
DROP INDEX tokens_parent;
ALTER TABLE tokens DROP COLUMN parent_id;
DROP TABLE ended_sessions;
ALTER TABLE users DROP COLUMN session_gen;
DROP TABLE login_attempts;
