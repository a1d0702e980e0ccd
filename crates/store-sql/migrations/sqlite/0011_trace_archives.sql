-- Trace archiving: once a job has finished, its log is written as one blob (through the blob
-- port, key `traces/<project id>/<job id>.log`) and its `job_traces` rows are deleted in the
-- same transaction that sets `trace_archived`. `trace_size` stays the length of the log.
-- Jobs finished before this migration keep their rows until the server's sweep archives them.

ALTER TABLE jobs ADD COLUMN trace_archived BOOLEAN NOT NULL DEFAULT 0;
-- The sweep's question, "which logs are not archived yet", stays cheap however many jobs exist.
CREATE INDEX jobs_unarchived_trace_idx ON jobs (id) WHERE trace_size > 0 AND NOT trace_archived;
