-- Every index is paid for by every INSERT (about 20 µs of PostgreSQL's CPU each, D-90).
-- No query looks a post up by its version id alone, and the versions of one post are found
-- through the (entity, post_id, version_id) key and then sorted: a post has few versions.
DROP INDEX IF EXISTS posts_by_version;
DROP INDEX IF EXISTS posts_versions;
-- The sweep of expired nonces runs once a minute over at most a few minutes of nonces; a
-- sequential scan does it, and each signed request no longer updates a second index.
DROP INDEX IF EXISTS hawk_nonces_expiry;
