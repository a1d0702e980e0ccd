-- Memberships on a namespace or a project. The source is polymorphic, so there is no foreign key
-- to it; deleting a project deletes its rows here in the same transaction.

CREATE TABLE members (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source_type  TEXT    NOT NULL CHECK (source_type IN ('namespace', 'project')),
    source_id    INTEGER NOT NULL,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- GitLab's access_level numbers.
    access_level INTEGER NOT NULL CHECK (access_level IN (10, 20, 30, 40, 50)),
    created_at   TEXT    NOT NULL,
    CONSTRAINT members_source_user_key UNIQUE (source_type, source_id, user_id)
);
CREATE INDEX members_user_idx ON members (user_id);
