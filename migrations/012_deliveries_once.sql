-- A delivery row is written three times (queued, claimed, delivered), and none of these
-- writes can be HOT: each adds an entry to every full index (D-94). The uniqueness of
-- (recipient, post version) is now kept by an index that leads with the post, so it also
-- serves the lookups by post, and deliveries_by_post goes.
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_kind_target_post_entity_post_id_version_id_key;
CREATE UNIQUE INDEX IF NOT EXISTS deliveries_once
    ON deliveries (post_entity, post_id, version_id, kind, target);
DROP INDEX IF EXISTS deliveries_by_post;
