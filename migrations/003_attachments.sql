-- Attachment bytes, content-addressed by digest (hex of the first 256 bits of SHA-512) and
-- stored once however many posts carry them, in chunks so that uploads and downloads
-- stream. Chunks of an upload in progress live under a temporary key `upload:<ms>:<random>`
-- until the digest is known.
CREATE TABLE blobs (
    digest     text   PRIMARY KEY,
    size       bigint NOT NULL,
    created_at bigint NOT NULL
);

CREATE TABLE blob_chunks (
    blob  text    NOT NULL,
    seq   integer NOT NULL,
    data  bytea   NOT NULL,
    PRIMARY KEY (blob, seq)
);
-- Media is already compressed: store it out of line without trying to compress it again.
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- Which post versions carry which attachment: who may fetch a digest, and by which name.
CREATE TABLE post_attachments (
    post_seq     bigint NOT NULL REFERENCES posts (seq) ON DELETE CASCADE,
    digest       text   NOT NULL,
    name         text   NOT NULL,
    content_type text   NOT NULL
);
CREATE INDEX post_attachments_digest ON post_attachments (digest);
CREATE INDEX post_attachments_by_post ON post_attachments (post_seq);
