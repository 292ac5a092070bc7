-- Transient failures (Binance unavailable, a database error) give a job back to the queue
-- with a back-off: `attempts` counts consecutive failed attempts (reset by every checkpoint),
-- and a pending job is not claimed again before `retry_at`.
ALTER TABLE backfill_jobs ADD COLUMN IF NOT EXISTS attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE backfill_jobs ADD COLUMN IF NOT EXISTS retry_at TIMESTAMPTZ;
