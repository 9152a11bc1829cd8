-- Failed owner sign-ins per client address (the lock is per address, shared by every
-- process on this database): how many in a row, the last one, and until when it must wait.
CREATE TABLE signin_failures (
    address      text   PRIMARY KEY,
    failures     integer NOT NULL,
    last_at      bigint NOT NULL,
    locked_until bigint NOT NULL
);
