-- +goose Up
-- Fencing of nodes on Ceph: ceph_addr is the address of the node's RBD
-- client (librados instance, as `osd blocklist add` takes it; empty
-- without Ceph). fenced_at (unix microseconds, 0 while not fenced) is when
-- another node blocklisted that address because the node's heartbeat
-- stopped; a node that finds its row fenced, or gone, stops at once.
ALTER TABLE nodes ADD COLUMN ceph_addr TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN fenced_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE nodes DROP COLUMN fenced_at;
ALTER TABLE nodes DROP COLUMN ceph_addr;
