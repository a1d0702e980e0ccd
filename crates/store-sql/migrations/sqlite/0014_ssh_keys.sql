-- Users' SSH public keys and projects' deploy keys (project_id set). A fingerprint names one
-- key everywhere.
CREATE TABLE ssh_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id   INTEGER REFERENCES projects (id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    key_text     TEXT NOT NULL,
    -- 'SHA256:' + unpadded base64, as OpenSSH prints it.
    fingerprint  TEXT NOT NULL,
    usage_type   TEXT NOT NULL CHECK (usage_type IN ('auth', 'signing', 'auth_and_signing')),
    can_push     BOOLEAN NOT NULL DEFAULT 0,
    expires_at   TEXT,
    created_at   TEXT NOT NULL,
    last_used_at TEXT
);
CREATE UNIQUE INDEX ssh_keys_fingerprint_key ON ssh_keys (fingerprint);
CREATE INDEX ssh_keys_user_idx ON ssh_keys (user_id);
CREATE INDEX ssh_keys_project_idx ON ssh_keys (project_id);
