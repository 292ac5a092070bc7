-- Audit trail and health history (written by the auditor, read by the gateway).
CREATE TABLE IF NOT EXISTS audit_logs (
    id           BIGSERIAL PRIMARY KEY,
    timestamp    TIMESTAMPTZ NOT NULL DEFAULT now(),
    dataset_id   TEXT,
    symbol       TEXT,
    timeframe    TEXT,
    check_type   TEXT NOT NULL,               -- gap, duplicate, health, backfill, ...
    severity     TEXT NOT NULL DEFAULT 'info', -- info, low, medium, high, critical
    message      TEXT NOT NULL,
    details      JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_logs_timestamp_idx ON audit_logs (timestamp);
CREATE INDEX IF NOT EXISTS audit_logs_dataset_idx ON audit_logs (dataset_id, timestamp);

CREATE TABLE IF NOT EXISTS health_metrics (
    id            BIGSERIAL PRIMARY KEY,
    timestamp     TIMESTAMPTZ NOT NULL DEFAULT now(),
    dataset_id    TEXT NOT NULL,
    symbol        TEXT NOT NULL,
    timeframe     TEXT NOT NULL,
    completeness  DOUBLE PRECISION NOT NULL,
    freshness     DOUBLE PRECISION NOT NULL,
    consistency   DOUBLE PRECISION NOT NULL,
    quality       DOUBLE PRECISION NOT NULL,
    level         TEXT NOT NULL,              -- healthy, degraded, unhealthy, critical
    gaps          INTEGER NOT NULL DEFAULT 0,
    duplicates    INTEGER NOT NULL DEFAULT 0,
    record_count  BIGINT NOT NULL DEFAULT 0,
    details       JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS health_metrics_dataset_idx ON health_metrics (dataset_id, timestamp DESC);
CREATE INDEX IF NOT EXISTS health_metrics_symbol_idx ON health_metrics (symbol, timeframe, timestamp DESC);

-- One row per audit cycle (latest served by /health/audit-status).
CREATE TABLE IF NOT EXISTS audit_cycles (
    id                BIGSERIAL PRIMARY KEY,
    started_at        TIMESTAMPTZ NOT NULL,
    finished_at       TIMESTAMPTZ,
    duration_seconds  DOUBLE PRECISION,
    datasets_audited  INTEGER NOT NULL DEFAULT 0,
    gaps              INTEGER NOT NULL DEFAULT 0,
    duplicates        INTEGER NOT NULL DEFAULT 0,
    errors            INTEGER NOT NULL DEFAULT 0,
    leader_term       BIGINT,
    pod_id            TEXT,
    details           JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_cycles_started_idx ON audit_cycles (started_at DESC);
