-- OAuth codes: single use, short-lived, mapped to the app-auth credentials they unlock (D-39).
CREATE TABLE oauth_codes (
    code           text    PRIMARY KEY,
    app_id         text    NOT NULL,
    credentials_id text    NOT NULL,
    expires_at     bigint  NOT NULL,
    used           boolean NOT NULL DEFAULT false
);

-- The owner's browser sessions (the approval pages). Only a hash of the cookie is kept.
CREATE TABLE owner_sessions (
    token_hash text   PRIMARY KEY,
    csrf       text   NOT NULL,
    expires_at bigint NOT NULL
);

-- Authorization requests from apps that cannot take a browser redirect. `stamp` is the
-- request id (nanoseconds since the epoch, unique, orders the log); `result` moves
-- sent -> got -> yes | no, or to expire / abort, and never leaves a terminal state.
CREATE TABLE auth_requests (
    stamp          bigint PRIMARY KEY,
    app_id         text   NOT NULL,
    request        jsonb  NOT NULL,
    result         text   NOT NULL CHECK (result IN ('sent', 'got', 'yes', 'no', 'expire', 'abort')),
    expire_at      bigint NOT NULL,
    credentials_id text,
    updated_at     bigint NOT NULL
);
CREATE INDEX auth_requests_app ON auth_requests (app_id, stamp DESC);
CREATE INDEX auth_requests_pending ON auth_requests (expire_at) WHERE result IN ('sent', 'got');
