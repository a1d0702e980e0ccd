-- Webhooks: project hooks (URL and token sealed by the application), their durable outbox of
-- deliveries (handed out oldest first per hook; a push's deliveries are keyed by their origin so
-- that settling a push twice enqueues once), and the instance's outbound-request settings.

CREATE TABLE project_hooks (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id                INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    url                       TEXT    NOT NULL,
    token                     TEXT,
    name                      TEXT    NOT NULL,
    description               TEXT    NOT NULL,
    push_events               BOOLEAN NOT NULL,
    tag_push_events           BOOLEAN NOT NULL,
    push_events_branch_filter TEXT,
    enable_ssl_verification   BOOLEAN NOT NULL,
    recent_failures           INTEGER NOT NULL DEFAULT 0,
    disabled_until            TEXT,
    permanently_disabled      BOOLEAN NOT NULL DEFAULT 0,
    created_at                TEXT    NOT NULL
);
CREATE INDEX project_hooks_project_idx ON project_hooks (project_id, id);

CREATE TABLE hook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    hook_id          INTEGER NOT NULL REFERENCES project_hooks (id) ON DELETE CASCADE,
    event            TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    origin_record    INTEGER,
    origin_position  INTEGER,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    response_status  INTEGER,
    response         TEXT,
    duration_ms      INTEGER,
    created_at       TEXT    NOT NULL,
    last_attempt_at  TEXT
);
CREATE INDEX hook_deliveries_hook_state_idx ON hook_deliveries (hook_id, state, id);
CREATE INDEX hook_deliveries_pending_idx ON hook_deliveries (state, id);
CREATE UNIQUE INDEX hook_deliveries_origin_key ON hook_deliveries (origin_record, origin_position, hook_id)
    WHERE origin_record IS NOT NULL;

CREATE TABLE outbound_settings (
    id                                                INTEGER PRIMARY KEY CHECK (id = 1),
    allow_local_requests_from_web_hooks_and_services  BOOLEAN NOT NULL,
    allow_local_requests_from_system_hooks            BOOLEAN NOT NULL,
    -- A JSON array of strings.
    outbound_local_requests_allowlist                 TEXT    NOT NULL
);
