-- Backfill jobs: durable, resumable, one row per requested range of one series.
CREATE TABLE IF NOT EXISTS backfill_jobs (
    id                BIGSERIAL PRIMARY KEY,
    symbol            TEXT NOT NULL,
    data_type         TEXT NOT NULL,        -- candles, agg_trades, funding, mark_price
    timeframe         TEXT,                 -- candles and mark_price only
    start_time        TIMESTAMPTZ NOT NULL,
    end_time          TIMESTAMPTZ NOT NULL, -- exclusive
    priority          INTEGER NOT NULL DEFAULT 0,
    status            TEXT NOT NULL DEFAULT 'pending',  -- pending, running, completed, failed, cancelled
    progress          DOUBLE PRECISION NOT NULL DEFAULT 0,
    records_fetched   BIGINT NOT NULL DEFAULT 0,
    records_written   BIGINT NOT NULL DEFAULT 0,
    chunks_done       INTEGER NOT NULL DEFAULT 0,
    chunks_total      INTEGER NOT NULL,
    error             TEXT,
    requested_by      TEXT NOT NULL DEFAULT 'api',      -- api, auditor, cli
    details           JSONB NOT NULL DEFAULT '{}'::jsonb,
    claimed_by        TEXT,
    lease_expires_at  TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at        TIMESTAMPTZ,
    completed_at      TIMESTAMPTZ,
    CHECK (end_time > start_time),
    CHECK (chunks_done <= chunks_total)
);
CREATE INDEX IF NOT EXISTS backfill_jobs_queue_idx ON backfill_jobs (status, priority DESC, created_at);
CREATE INDEX IF NOT EXISTS backfill_jobs_series_idx ON backfill_jobs (symbol, data_type, timeframe);
