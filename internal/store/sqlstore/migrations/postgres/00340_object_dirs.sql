-- +goose Up
-- Directories, for listings with delimiter "/" at a directory: dir is
-- every prefix of a key of objects (current versions, no delete markers)
-- that ends in "/", the key itself included when it ends in "/"; parent
-- is dir's own directory ('' at the top). A page of a directory is then
-- two ordered range reads, its keys by objects_dirname (dirname: the key
-- up to and including its last "/", '' without one) and its
-- subdirectories by object_dirs_parent, however many keys each
-- subdirectory holds. The store keeps the rows in the transactions that
-- add and remove keys.
CREATE TABLE object_dirs (
    bucket_id TEXT NOT NULL REFERENCES buckets (id),
    parent    TEXT COLLATE "C" NOT NULL,
    dir       TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (bucket_id, dir)
);
CREATE INDEX object_dirs_parent ON object_dirs (bucket_id, parent, dir);
-- The queries spell dirname exactly so, or the planner does not match it.
CREATE INDEX objects_dirname ON objects (bucket_id, (rtrim(key_name, replace(key_name, '/', ''))), key_name);
-- Every key's dirname, then each directory's parent until the top.
INSERT INTO object_dirs (bucket_id, parent, dir)
WITH RECURSIVE d(bucket_id, dir) AS (
    SELECT DISTINCT bucket_id, rtrim(key_name, replace(key_name, '/', '')) FROM objects
    UNION
    SELECT bucket_id, rtrim(substr(dir, 1, length(dir) - 1), replace(substr(dir, 1, length(dir) - 1), '/', '')) FROM d WHERE dir <> ''
)
SELECT bucket_id, rtrim(substr(dir, 1, length(dir) - 1), replace(substr(dir, 1, length(dir) - 1), '/', '')), dir FROM d WHERE dir <> '';

-- +goose Down
DROP INDEX objects_dirname;
DROP TABLE object_dirs;
