-- Runner hardware and GPU allocations, kept so that a restarted coordinator knows every runner's
-- GPUs and never hands a held GPU out twice.
-- Lists (architectures, GPU keys) are JSON arrays of strings, in the order given (like pipeline
-- variables in 0006, and unlike tags: an architecture list is ordered, native first).
-- Deleting a runner removes its inventory and the allocations on its GPUs; deleting a job (and
-- so its project) removes its allocation (ON DELETE CASCADE). Neither lowers the max fence.

-- What each runner last reported.
CREATE TABLE runner_inventories (
    runner_id     BIGINT  PRIMARY KEY REFERENCES runners (id) ON DELETE CASCADE,
    -- The GPU inventory as JSON text; opaque here.
    inventory     TEXT    NOT NULL,
    architectures TEXT    NOT NULL DEFAULT '[]',
    updated_at    TIMESTAMPTZ NOT NULL
);

-- GPUs held by running jobs, at most one allocation per job.
CREATE TABLE ci_gpu_allocations (
    job_id     BIGINT  PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    runner_id  BIGINT  NOT NULL REFERENCES runners (id) ON DELETE CASCADE,
    fence      BIGINT  NOT NULL,
    -- GPU keys; never empty.
    gpus       TEXT    NOT NULL CHECK (gpus <> '[]'),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ci_gpu_allocations_runner_idx ON ci_gpu_allocations (runner_id);

-- The highest fence ever recorded: one row, raised in the transaction that records an
-- allocation and never lowered, so fences keep increasing across restarts.
CREATE TABLE ci_gpu_fence (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    max_fence BIGINT  NOT NULL
);
INSERT INTO ci_gpu_fence (id, max_fence) VALUES (1, 0);
