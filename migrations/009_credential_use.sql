-- When each key was last used to sign a request (the owner's Apps page shows it). Written
-- at most once a minute per key per process, never on the request's own path.
CREATE TABLE credential_use (
    credentials_id text   PRIMARY KEY,
    last_used_at   bigint NOT NULL
);
