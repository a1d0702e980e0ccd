-- Protected tags, as GitLab models them: a rule per project and tag name or wildcard (`v*`),
-- unique per project and compared exactly, with the levels allowed to create matching tags as
-- rows of their own (GitLab lists them with ids). Access levels as for protected branches.
-- Both tables count toward the job-context generation (ADR 0012): CI_COMMIT_REF_PROTECTED and
-- the protected variables of a tag's pipeline follow them.

CREATE TABLE protected_tags (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL
);
CREATE UNIQUE INDEX protected_tags_name_key ON protected_tags (project_id, name);

CREATE TABLE protected_tag_create_levels (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    protected_tag_id INTEGER NOT NULL REFERENCES protected_tags (id) ON DELETE CASCADE,
    access_level     INTEGER NOT NULL CHECK (access_level IN (0, 30, 40, 60))
);
CREATE INDEX protected_tag_create_levels_rule ON protected_tag_create_levels (protected_tag_id);

CREATE TRIGGER ci_context_protected_tags_ins AFTER INSERT ON protected_tags
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_protected_tags_upd AFTER UPDATE ON protected_tags
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_protected_tags_del AFTER DELETE ON protected_tags
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER ci_context_tag_levels_ins AFTER INSERT ON protected_tag_create_levels
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_tag_levels_upd AFTER UPDATE ON protected_tag_create_levels
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_tag_levels_del AFTER DELETE ON protected_tag_create_levels
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
