-- CI: runners, pipelines with their jobs, job traces, CI/CD variables.
-- Deleting a project removes its pipelines, jobs, traces, variables and project runners
-- (ON DELETE CASCADE); deleting a runner keeps its jobs (runner_id becomes NULL).
-- Tags are stored as one comma-joined, sorted list ('' for none); tags hold no commas.

CREATE TABLE runners (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    description     TEXT    NOT NULL DEFAULT '',
    -- Hex SHA-256 of the runner token; the token itself is never stored.
    token_digest    TEXT    NOT NULL,
    scope_type      TEXT    NOT NULL CHECK (scope_type IN ('instance', 'group', 'project')),
    namespace_id    INTEGER REFERENCES namespaces (id) ON DELETE CASCADE,
    project_id      INTEGER REFERENCES projects (id) ON DELETE CASCADE,
    tags            TEXT    NOT NULL DEFAULT '',
    run_untagged    BOOLEAN NOT NULL,
    locked          BOOLEAN NOT NULL,
    paused          BOOLEAN NOT NULL,
    access_level    TEXT    NOT NULL CHECK (access_level IN ('not_protected', 'ref_protected')),
    maximum_timeout INTEGER,
    created_at      TEXT    NOT NULL,
    contacted_at    TEXT,
    version         TEXT,
    platform        TEXT,
    architecture    TEXT,
    executor        TEXT,
    CHECK ((scope_type = 'group') = (namespace_id IS NOT NULL)),
    CHECK ((scope_type = 'project') = (project_id IS NOT NULL))
);
CREATE UNIQUE INDEX runners_token_digest_key ON runners (token_digest);
CREATE INDEX runners_namespace_idx ON runners (namespace_id);
CREATE INDEX runners_project_idx ON runners (project_id);

-- The last pipeline iid handed out per project: an upsert on this row assigns the next one.
CREATE TABLE ci_pipeline_iids (
    project_id INTEGER PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    last_iid   INTEGER NOT NULL
);

CREATE TABLE pipelines (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    iid         INTEGER NOT NULL,
    ref_name    TEXT    NOT NULL,
    tag         BOOLEAN NOT NULL,
    sha         TEXT    NOT NULL,
    before_sha  TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('created', 'waiting_for_resource', 'preparing', 'pending',
                    'running', 'success', 'failed', 'canceled', 'skipped', 'manual', 'scheduled')),
    user_id     INTEGER REFERENCES users (id) ON DELETE SET NULL,
    yaml_errors TEXT,
    -- JSON array of [key, value] string pairs, in the order given.
    variables   TEXT    NOT NULL DEFAULT '[]',
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    started_at  TEXT,
    finished_at TEXT
);
CREATE UNIQUE INDEX pipelines_project_iid_key ON pipelines (project_id, iid);
CREATE INDEX pipelines_project_ref_idx ON pipelines (project_id, ref_name);

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline_id      INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    project_id       INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    stage            TEXT    NOT NULL,
    stage_index      INTEGER NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('created', 'pending', 'running', 'success', 'failed',
                         'canceled', 'skipped', 'manual', 'scheduled')),
    -- GitLab's `when` (a keyword in SQL).
    run_when         TEXT    NOT NULL,
    allow_failure    BOOLEAN NOT NULL,
    -- The compiled job as JSON text; opaque to the store.
    spec             TEXT    NOT NULL,
    tags             TEXT    NOT NULL DEFAULT '',
    protected        BOOLEAN NOT NULL,
    runner_id        INTEGER REFERENCES runners (id) ON DELETE SET NULL,
    -- Hex SHA-256 of the job token, set only while the job runs.
    token_digest     TEXT,
    attempt          INTEGER NOT NULL,
    retried_from     INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
    retried          BOOLEAN NOT NULL DEFAULT 0,
    failure_reason   TEXT,
    exit_code        INTEGER,
    timeout_secs     INTEGER NOT NULL,
    scheduled_at     TEXT,
    queued_at        TEXT,
    started_at       TEXT,
    finished_at      TEXT,
    created_at       TEXT    NOT NULL,
    lease_expires_at TEXT,
    trace_size       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_status_queued_idx ON jobs (status, queued_at);
CREATE INDEX jobs_pipeline_idx ON jobs (pipeline_id);
CREATE INDEX jobs_project_idx ON jobs (project_id, id);
CREATE INDEX jobs_runner_idx ON jobs (runner_id);
CREATE UNIQUE INDEX jobs_token_digest_key ON jobs (token_digest) WHERE token_digest IS NOT NULL;

-- A job's log: one row per append, at the byte offset it starts at.
CREATE TABLE job_traces (
    job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    byte_offset INTEGER NOT NULL,
    data        BLOB    NOT NULL,
    PRIMARY KEY (job_id, byte_offset)
);

-- Variables of a project or of a group: exactly one owner column is set.
CREATE TABLE ci_variables (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id        INTEGER REFERENCES projects (id) ON DELETE CASCADE,
    namespace_id      INTEGER REFERENCES namespaces (id) ON DELETE CASCADE,
    key               TEXT    NOT NULL,
    -- Stored as given; encryption at rest is out of scope.
    value             TEXT    NOT NULL,
    variable_type     TEXT    NOT NULL CHECK (variable_type IN ('env_var', 'file')),
    protected         BOOLEAN NOT NULL,
    masked            BOOLEAN NOT NULL,
    raw               BOOLEAN NOT NULL,
    environment_scope TEXT    NOT NULL,
    description       TEXT,
    CHECK ((project_id IS NULL) <> (namespace_id IS NULL))
);
CREATE UNIQUE INDEX ci_variables_project_key ON ci_variables (project_id, key, environment_scope)
    WHERE project_id IS NOT NULL;
CREATE UNIQUE INDEX ci_variables_group_key ON ci_variables (namespace_id, key, environment_scope)
    WHERE namespace_id IS NOT NULL;
