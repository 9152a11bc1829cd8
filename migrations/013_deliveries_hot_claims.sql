-- A claim rewrites next_attempt_at, attempts, claimed_at and claimed_by, none of them indexed
-- once deliveries_due goes (no query has read it since claims find each recipient's head
-- through deliveries_queue, D-88, D-95). With room left on each page the claim's new row
-- version stays on its page and adds no index entries (a HOT update, D-97).
DROP INDEX IF EXISTS deliveries_due;
ALTER TABLE deliveries SET (fillfactor = 50);
