-- Users and their personal access tokens.
-- Timestamps are TEXT in sqlx's RFC 3339 encoding (UTC, "+00:00", sub-second digits as needed);
-- booleans are 0/1. Ids use AUTOINCREMENT so that they are never reused.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    email         TEXT    NOT NULL,
    password_hash TEXT,
    is_admin      BOOLEAN NOT NULL DEFAULT 0,
    state         TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'blocked')),
    created_at    TEXT    NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE personal_access_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    -- Hex SHA-256 of the secret; the secret itself is never stored.
    digest       TEXT    NOT NULL,
    -- Space-separated scope names.
    scopes       TEXT    NOT NULL,
    -- 'YYYY-MM-DD'; the token is invalid from this day on.
    expires_at   TEXT,
    revoked      BOOLEAN NOT NULL DEFAULT 0,
    created_at   TEXT    NOT NULL,
    last_used_at TEXT
);
CREATE UNIQUE INDEX personal_access_tokens_digest_key ON personal_access_tokens (digest);
CREATE INDEX personal_access_tokens_user_idx ON personal_access_tokens (user_id);
