-- How many changes caches depend on have committed, on this database. Every announced change
-- bumps it in its own transaction, and the nonce check of every signed request reads it, so a
-- process that has not heard a change's NOTIFY yet still drops its caches before it answers
-- (D-99).
CREATE TABLE change_count (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    n   bigint NOT NULL
);
INSERT INTO change_count (one, n) VALUES (true, 0);
