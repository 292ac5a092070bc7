-- Catalog, complete: what each dataset is, how it is kept, and how healthy it is; lineage
-- edges with the time they were last seen (the first is created_at).
-- Writers (ingestor, backfiller, analytics) set schema, update frequency and tags;
-- the auditor sets health_level (and the counts and time bounds of 0002).
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS schema_name TEXT;
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS schema_version INTEGER;
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS health_level TEXT;
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS update_frequency_seconds DOUBLE PRECISION;
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS tags TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS datasets_health_level_idx ON datasets (health_level);

ALTER TABLE lineage_edges ADD COLUMN IF NOT EXISTS last_seen TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS lineage_edges_source_idx ON lineage_edges (source);
