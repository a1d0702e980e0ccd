-- External commit statuses (`POST /projects/:id/statuses/:sha`): one line of statuses per
-- project, commit, ref and name; a new status marks the earlier ones of its line `retried`.
-- Deleting a project removes its statuses; deleting a user keeps theirs without an author.

CREATE TABLE commit_statuses (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    sha         TEXT    NOT NULL,
    ref_name    TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'running', 'success', 'failed', 'canceled',
                    'skipped')),
    description TEXT,
    target_url  TEXT,
    coverage    REAL,
    author_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    retried     BOOLEAN NOT NULL DEFAULT 0,
    created_at  TEXT    NOT NULL,
    started_at  TEXT,
    finished_at TEXT
);
CREATE INDEX commit_statuses_commit_idx ON commit_statuses (project_id, sha, ref_name, name);
