-- +goose Up
-- What users say about themselves (names, contact details, clone naming,
-- meta) as one JSON document, written only by its user.
CREATE TABLE user_profiles (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    profile    TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE user_profiles;
