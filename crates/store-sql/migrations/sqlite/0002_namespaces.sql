-- Namespaces: nestable groups, and one personal namespace per user.

CREATE TABLE namespaces (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL CHECK (kind IN ('user', 'group')),
    name            TEXT    NOT NULL,
    path            TEXT    NOT NULL,
    -- 'root/child/...' as given at creation, and lower(full_path) for unique, case-insensitive
    -- lookups and for the ancestor test (a prefix compare on whole segments).
    full_path       TEXT    NOT NULL,
    full_path_lower TEXT    NOT NULL,
    parent_id       INTEGER REFERENCES namespaces (id),
    visibility      TEXT    NOT NULL CHECK (visibility IN ('private', 'internal', 'public')),
    description     TEXT    NOT NULL DEFAULT '',
    -- Set exactly for personal namespaces.
    owner_id        INTEGER REFERENCES users (id),
    created_at      TEXT    NOT NULL,
    CHECK ((kind = 'user') = (owner_id IS NOT NULL))
);
-- Top-level paths are shared by users and groups, so this one index keeps them apart too.
CREATE UNIQUE INDEX namespaces_full_path_key ON namespaces (full_path_lower);
CREATE UNIQUE INDEX namespaces_owner_key ON namespaces (owner_id);
CREATE INDEX namespaces_parent_idx ON namespaces (parent_id);
