-- The job-context generation (ADR 0012, "The job context between hand-outs"): one number that
-- grows in the same transaction as every change to what a job's context holds besides its
-- pipeline (users, namespaces, projects, members, protected branches and their levels, CI/CD
-- variables), and to a pipeline's variables, which change only when a key rotation re-seals
-- them. A claim returns it, so the coordinator can keep a pipeline's context between
-- hand-outs and read it again only when it grew. SQLite runs one writer at a time, so plain
-- row triggers cannot deadlock on the counter.

CREATE TABLE ci_context_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO ci_context_generation (id, value) VALUES (1, 0);

CREATE TRIGGER ci_context_users_ins AFTER INSERT ON users
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_users_upd AFTER UPDATE ON users
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_users_del AFTER DELETE ON users
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER ci_context_namespaces_ins AFTER INSERT ON namespaces
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_namespaces_upd AFTER UPDATE ON namespaces
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_namespaces_del AFTER DELETE ON namespaces
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER ci_context_projects_ins AFTER INSERT ON projects
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_projects_upd AFTER UPDATE ON projects
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_projects_del AFTER DELETE ON projects
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER ci_context_members_ins AFTER INSERT ON members
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_members_upd AFTER UPDATE ON members
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_members_del AFTER DELETE ON members
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER ci_context_protected_branches_ins AFTER INSERT ON protected_branches
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_protected_branches_upd AFTER UPDATE ON protected_branches
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_protected_branches_del AFTER DELETE ON protected_branches
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER ci_context_branch_levels_ins AFTER INSERT ON protected_branch_access_levels
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_branch_levels_upd AFTER UPDATE ON protected_branch_access_levels
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_branch_levels_del AFTER DELETE ON protected_branch_access_levels
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER ci_context_variables_ins AFTER INSERT ON ci_variables
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_variables_upd AFTER UPDATE ON ci_variables
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER ci_context_variables_del AFTER DELETE ON ci_variables
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER ci_context_pipeline_variables_upd AFTER UPDATE OF variables ON pipelines
BEGIN UPDATE ci_context_generation SET value = value + 1 WHERE id = 1; END;
