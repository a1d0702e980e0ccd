-- Job artifacts, and where a project's CI configuration lives.
-- An artifact row records a blob kept elsewhere (`storage_key`, opaque here), at most one per
-- (job, file type). Deleting a job, and so its project, removes its artifact rows
-- (ON DELETE CASCADE) but never the blobs.

-- NULL: the default `.gitlab-ci.yml`.
ALTER TABLE projects ADD COLUMN ci_config_path TEXT;

CREATE TABLE ci_job_artifacts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    -- The job's project, copied at creation.
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- GitLab's artifact type: archive, metadata, trace, junit…
    file_type   TEXT    NOT NULL,
    -- zip, gzip, raw.
    file_format TEXT    NOT NULL,
    filename    TEXT    NOT NULL,
    size        INTEGER NOT NULL CHECK (size >= 0),
    -- Hex SHA-256 of the blob.
    sha256      TEXT    NOT NULL,
    storage_key TEXT    NOT NULL,
    expire_at   TEXT,
    created_at  TEXT    NOT NULL
);
CREATE UNIQUE INDEX ci_job_artifacts_job_type_key ON ci_job_artifacts (job_id, file_type);
CREATE INDEX ci_job_artifacts_project_idx ON ci_job_artifacts (project_id);
CREATE INDEX ci_job_artifacts_expire_idx ON ci_job_artifacts (expire_at) WHERE expire_at IS NOT NULL;
