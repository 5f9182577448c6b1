-- Files received by POST /api/upload (or imported from v3), stored in the upload
-- directory under `stored_name`; `filename` is the client's name, sanitised.
CREATE TABLE uploads (
    id              TEXT PRIMARY KEY NOT NULL,
    owner           TEXT NOT NULL,
    conversation_id TEXT,
    filename        TEXT NOT NULL,
    stored_name     TEXT NOT NULL UNIQUE,
    content_type    TEXT NOT NULL,
    size            BIGINT NOT NULL,
    sha256          TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX uploads_conversation ON uploads (conversation_id, created_at);
CREATE INDEX uploads_owner ON uploads (owner, created_at);
