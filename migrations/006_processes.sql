-- Several `tent serve` processes on one database act as one server.

-- Which outbox worker holds a delivery's lease. A live worker holds the session advisory
-- lock (0x7E47, worker id); at start a process releases only the leases of workers gone.
ALTER TABLE deliveries ADD COLUMN claimed_by bigint;

-- Hawk nonces seen by any process (D-32): a replay is refused whichever process it reaches.
-- Keyed by a 64-bit digest of (credentials id, nonce, ts); kept for the skew window only.
-- UNLOGGED: no write-ahead log on the hot path; PostgreSQL empties it only after its own
-- crash, which outlasts the 60 s skew window that makes an old request stale anyway.
CREATE UNLOGGED TABLE hawk_nonces (
    key        bigint PRIMARY KEY,
    expires_at bigint NOT NULL  -- ms
);
CREATE INDEX hawk_nonces_expiry ON hawk_nonces (expires_at);
