-- Gaps the auditor knows about: updated while open, marked resolved once filled, and the
-- auto-backfill request made for each (never twice while one is pending).
CREATE TABLE IF NOT EXISTS audit_gaps (
    id                     BIGSERIAL PRIMARY KEY,
    dataset_id             TEXT NOT NULL,
    symbol                 TEXT NOT NULL,
    timeframe              TEXT NOT NULL,
    gap_start              TIMESTAMPTZ NOT NULL,
    gap_end                TIMESTAMPTZ NOT NULL,
    duration_seconds       DOUBLE PRECISION NOT NULL,
    missing_candles        INTEGER NOT NULL,
    kind                   TEXT NOT NULL,
    severity               TEXT NOT NULL,
    status                 TEXT NOT NULL DEFAULT 'open',   -- open, resolved
    first_seen             TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen              TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at            TIMESTAMPTZ,
    backfill_requested_at  TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS audit_gaps_open_idx ON audit_gaps (dataset_id) WHERE status = 'open';

-- What the auditor learns of each dataset.
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS record_count BIGINT;
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS first_timestamp TIMESTAMPTZ;
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS last_timestamp TIMESTAMPTZ;
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS last_audited_at TIMESTAMPTZ;
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS counted_at TIMESTAMPTZ;
