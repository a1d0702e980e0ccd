-- The job-context generation (ADR 0012, "The job context between hand-outs"): one number that
-- grows in the same transaction as every change to what a job's context holds besides its
-- pipeline (users, namespaces, projects, members, protected branches and their levels, CI/CD
-- variables), and to a pipeline's variables, which change only when a key rotation re-seals
-- them. A claim returns it, so the coordinator can keep a pipeline's context between
-- hand-outs and read it again only when it grew.
--
-- The triggers are deferred to commit: every writer then takes the counter's row lock last,
-- after all its other row locks, so two writers cannot wait on each other through it (an
-- immediate trigger would lock the counter at a transaction's first change and could deadlock
-- with one that locked a row first).

CREATE TABLE ci_context_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO ci_context_generation (id, value) VALUES (1, 0);

CREATE FUNCTION ci_context_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ci_context_generation SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

-- One trigger per table, named ci_context_<table>.
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'namespaces', 'projects', 'members', 'protected_branches',
                             'protected_branch_access_levels', 'ci_variables'] LOOP
        EXECUTE format('CREATE CONSTRAINT TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I '
                       'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ci_context_changed()',
                       'ci_context_' || t, t);
    END LOOP;
END
$$;
-- A pipeline's variables change only when a key rotation re-seals them.
CREATE CONSTRAINT TRIGGER ci_context_pipeline_variables AFTER UPDATE OF variables ON pipelines
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ci_context_changed();
