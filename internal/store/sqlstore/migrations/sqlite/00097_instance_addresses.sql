-- +goose Up
-- The client addresses of an instance, as a JSON array of IP prefixes: an
-- NFS export attached to it serves only these. '[]' (none recorded) lets
-- only clients on the node itself in.
ALTER TABLE instances ADD COLUMN addresses TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE instances DROP COLUMN addresses;
