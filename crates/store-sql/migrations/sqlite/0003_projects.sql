-- Projects. The full path is not stored: it is the namespace's full path joined with `path`.

CREATE TABLE projects (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace_id     INTEGER NOT NULL REFERENCES namespaces (id),
    name             TEXT    NOT NULL,
    path             TEXT    NOT NULL,
    description      TEXT    NOT NULL DEFAULT '',
    visibility       TEXT    NOT NULL CHECK (visibility IN ('private', 'internal', 'public')),
    default_branch   TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    last_activity_at TEXT    NOT NULL
);
CREATE UNIQUE INDEX projects_path_key ON projects (namespace_id, lower(path));
