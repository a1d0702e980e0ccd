-- The push outbox: what a push asked for, written before git may apply it, and how far turning
-- it into push events and pipelines has got (see autogit-store's push_records module).
-- state: received -> recorded -> done. Deleting a project removes its records.

CREATE TABLE push_records (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    pusher_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    state       TEXT    NOT NULL CHECK (state IN ('received', 'recorded', 'done')),
    created_at  TEXT    NOT NULL,
    finished_at TEXT
);
-- Unfinished records are few and read at start-up; done ones are pruned by finish time.
CREATE INDEX push_records_state_idx ON push_records (state, id);
CREATE INDEX push_records_finished_idx ON push_records (finished_at);

CREATE TABLE push_record_updates (
    record_id      INTEGER NOT NULL REFERENCES push_records (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    ref_name       TEXT    NOT NULL,
    old_sha        TEXT    NOT NULL,
    new_sha        TEXT    NOT NULL,
    applied        BOOLEAN NOT NULL DEFAULT FALSE,
    pipeline_state TEXT    NOT NULL DEFAULT 'pending' CHECK (pipeline_state IN ('pending', 'created', 'none')),
    pipeline_id    INTEGER REFERENCES pipelines (id) ON DELETE SET NULL,
    PRIMARY KEY (record_id, position)
);
