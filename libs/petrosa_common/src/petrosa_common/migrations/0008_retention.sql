-- Retention (written by the auditor's leader, read by the gateway): one row per run, and on
-- each catalogued dataset its horizon and what the last run kept and deleted.
CREATE TABLE IF NOT EXISTS retention_runs (
    id                BIGSERIAL PRIMARY KEY,
    started_at        TIMESTAMPTZ NOT NULL,
    finished_at       TIMESTAMPTZ NOT NULL,
    duration_seconds  DOUBLE PRECISION NOT NULL,
    status            TEXT NOT NULL,            -- completed, partial, aborted, failed
    deleted           BIGINT NOT NULL DEFAULT 0,
    leader_term       BIGINT,
    pod_id            TEXT,
    error             TEXT,
    details           JSONB NOT NULL DEFAULT '{}'::jsonb  -- per collection: kind, cutoff, deleted
);
CREATE INDEX IF NOT EXISTS retention_runs_started_idx ON retention_runs (started_at DESC);

ALTER TABLE datasets ADD COLUMN IF NOT EXISTS retention_seconds DOUBLE PRECISION;
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS retention_cutoff TIMESTAMPTZ;
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS retention_run_at TIMESTAMPTZ;
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS retention_deleted_total BIGINT NOT NULL DEFAULT 0;
