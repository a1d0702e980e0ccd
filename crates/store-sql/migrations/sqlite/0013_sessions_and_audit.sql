-- Browser sessions and the audit log.
-- Timestamps are TEXT in sqlx's RFC 3339 encoding (UTC).

-- A signed-in browser. Only the SHA-256 of the cookie's secret is kept.
CREATE TABLE sessions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest         TEXT NOT NULL,
    ip_address     TEXT NOT NULL,
    user_agent     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    last_active_at TEXT NOT NULL,
    expires_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX sessions_digest_key ON sessions (digest);
CREATE INDEX sessions_user_idx ON sessions (user_id, last_active_at);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- Who did what, to which record, when and from where. No foreign keys: the trail outlives
-- the users and records it names. Never holds a secret.
CREATE TABLE audit_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    action         TEXT NOT NULL,
    author_id      INTEGER,
    author_name    TEXT NOT NULL,
    entity_type    TEXT NOT NULL,
    entity_id      INTEGER NOT NULL,
    entity_path    TEXT NOT NULL,
    target_type    TEXT,
    target_id      INTEGER,
    target_details TEXT,
    change_attribute TEXT,
    change_from    TEXT,
    change_to      TEXT,
    ip_address     TEXT,
    created_at     TEXT NOT NULL
);
CREATE INDEX audit_events_entity_idx ON audit_events (entity_type, entity_id, id);
CREATE INDEX audit_events_created_idx ON audit_events (created_at);
