-- The durable outbox: one row per (recipient, post version). Written in the same
-- transaction as the post, drained by worker tasks that claim due rows with
-- FOR UPDATE SKIP LOCKED. A claim pushes next_attempt_at forward by a lease, so a row
-- whose sender died is picked up again when the lease runs out (at-least-once).
CREATE TABLE deliveries (
    id              bigserial PRIMARY KEY,
    kind            text    NOT NULL CHECK (kind IN ('entity', 'app')),
    target          text    NOT NULL,  -- recipient entity URL, or app post id
    post_entity     text    NOT NULL,
    post_id         text    NOT NULL,
    version_id      text    NOT NULL,
    mentioned       boolean NOT NULL DEFAULT false,  -- failures are reported for mentioned recipients
    state           text    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at bigint  NOT NULL,
    created_at      bigint  NOT NULL,
    delivered_at    bigint,
    last_error      text,
    reported        boolean NOT NULL DEFAULT false,  -- a temporary delivery-failure post exists
    claimed_at      bigint,                          -- set while a worker holds the lease
    UNIQUE (kind, target, post_entity, post_id, version_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_queue ON deliveries (kind, target, id) WHERE state = 'pending';
CREATE INDEX deliveries_by_post ON deliveries (post_entity, post_id);

-- One record per remote entity we have a relationship with (§7.1).
CREATE TABLE relationships (
    entity             text    PRIMARY KEY,
    our_post_id        text,             -- our relationship post
    our_credentials_id text,             -- credentials we issued; the peer signs with them
    remote_credentials jsonb,            -- {id, hawk_key, hawk_algorithm} the peer gave us
    remote_meta        jsonb,            -- the peer's meta post (its servers)
    active             boolean NOT NULL DEFAULT false,
    updated_at         bigint  NOT NULL
);

-- Who subscribes to which of our post types (from their subscription posts).
CREATE TABLE subscriptions (
    subscriber text NOT NULL,
    selector   text NOT NULL,   -- `all`, a type without fragment, or with one
    post_id    text NOT NULL,   -- their subscription post
    PRIMARY KEY (subscriber, post_id)
);
CREATE INDEX subscriptions_subscriber ON subscriptions (subscriber);
