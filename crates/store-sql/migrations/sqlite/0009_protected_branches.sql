-- Protected branches, as GitLab models them: a rule per project and branch name or wildcard
-- (`release/*`), unique per project and compared exactly (git's branch names are case-sensitive),
-- with the levels allowed to push and to merge as rows of their own (GitLab lists them with ids).
-- Access levels: 0 no one, 30 developers + maintainers, 40 maintainers, 60 administrators.
-- Deleting a project removes its rules, and a rule its access levels (ON DELETE CASCADE).

CREATE TABLE protected_branches (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id       INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    allow_force_push BOOLEAN NOT NULL
);
CREATE UNIQUE INDEX protected_branches_name_key ON protected_branches (project_id, name);

CREATE TABLE protected_branch_access_levels (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    protected_branch_id INTEGER NOT NULL REFERENCES protected_branches (id) ON DELETE CASCADE,
    action              TEXT    NOT NULL CHECK (action IN ('push', 'merge')),
    access_level        INTEGER NOT NULL CHECK (access_level IN (0, 30, 40, 60))
);
CREATE INDEX protected_branch_access_levels_rule ON protected_branch_access_levels (protected_branch_id);

-- Projects made before protected branches existed get what a new project gets: the default
-- branch protected, maintainers push and merge, no force push.
INSERT INTO protected_branches (project_id, name, allow_force_push)
    SELECT id, default_branch, FALSE FROM projects WHERE default_branch IS NOT NULL AND default_branch <> '';
INSERT INTO protected_branch_access_levels (protected_branch_id, action, access_level)
    SELECT id, 'push', 40 FROM protected_branches;
INSERT INTO protected_branch_access_levels (protected_branch_id, action, access_level)
    SELECT id, 'merge', 40 FROM protected_branches;
