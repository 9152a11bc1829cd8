-- One row per post version. The columns the feed filters and sorts on are real, indexed
-- columns; the whole stored post (the server's view, with received_at and permissions) is
-- kept as jsonb in `data`.
CREATE TABLE posts (
    seq                  bigserial PRIMARY KEY,
    entity               text    NOT NULL,
    post_id              text    NOT NULL,
    version_id           text    NOT NULL,
    type                 text    NOT NULL,
    type_base            text    NOT NULL,  -- type without fragment: https://tent.io/types/status/v0
    type_fragment        text,              -- decoded fragment; NULL when the type has no '#'
    published_at         bigint  NOT NULL,
    received_at          bigint  NOT NULL,
    version_published_at bigint  NOT NULL,
    version_received_at  bigint  NOT NULL,
    public               boolean NOT NULL,
    latest               boolean NOT NULL DEFAULT true,  -- newest version of its post
    latest_public        boolean NOT NULL DEFAULT false, -- newest public version of its post
    data                 jsonb   NOT NULL,
    UNIQUE (entity, post_id, version_id)
);

CREATE INDEX posts_versions ON posts (entity, post_id, version_received_at DESC, version_id DESC);
CREATE INDEX posts_by_version ON posts (version_id);

-- The feed shows the newest version of each post the reader may see (the latest, or for
-- readers of public posts only, the latest public one), newest first by one of four keys,
-- ties broken by version id: keyset pagination on (key, version_id) over partial indexes.
CREATE INDEX feed_received_at ON posts (received_at DESC, version_id DESC)
    WHERE latest OR latest_public;
CREATE INDEX feed_published_at ON posts (published_at DESC, version_id DESC)
    WHERE latest OR latest_public;
CREATE INDEX feed_version_received_at ON posts (version_received_at DESC, version_id DESC)
    WHERE latest OR latest_public;
CREATE INDEX feed_version_published_at ON posts (version_published_at DESC, version_id DESC)
    WHERE latest OR latest_public;
CREATE INDEX feed_types ON posts (type_base, type_fragment, received_at DESC)
    WHERE latest OR latest_public;

CREATE TABLE mentions (
    post_seq bigint  NOT NULL REFERENCES posts (seq) ON DELETE CASCADE,
    entity   text    NOT NULL,
    post_id  text,
    public   boolean NOT NULL
);
CREATE INDEX mentions_target ON mentions (entity, post_id);
CREATE INDEX mentions_by_post ON mentions (post_seq);

CREATE TABLE parents (
    post_seq   bigint NOT NULL REFERENCES posts (seq) ON DELETE CASCADE,
    entity     text   NOT NULL,
    post_id    text   NOT NULL,
    version_id text   NOT NULL
);
CREATE INDEX parents_target ON parents (entity, post_id, version_id);
CREATE INDEX parents_by_post ON parents (post_seq);

-- Small named values the server keeps for itself: the meta post id, the owner app, secrets.
CREATE TABLE server_state (
    key   text  PRIMARY KEY,
    value jsonb NOT NULL
);
