-- +goose Up
-- A public snapshot is one of the operator's images (CloudSigma's library
-- drives): every tenant may list it and clone volumes from it.
ALTER TABLE snapshots ADD COLUMN public BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX snapshots_public ON snapshots (public, id);

-- +goose Down
DROP INDEX snapshots_public;
ALTER TABLE snapshots DROP COLUMN public;
