-- Push events, one per updated ref, consumed later by CI.

CREATE TABLE push_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    ref_name   TEXT    NOT NULL,
    before_sha TEXT    NOT NULL,
    after_sha  TEXT    NOT NULL,
    pusher_id  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX push_events_project_idx ON push_events (project_id, created_at);
