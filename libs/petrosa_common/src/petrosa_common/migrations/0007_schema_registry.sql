-- Schema registry, relational side: versions of the JSON Schemas that describe PostgreSQL
-- tables (the MongoDB side lives in the `schemas` collection). One row per (name, version);
-- status active | deprecated | deleted (a soft delete; a hard delete removes the row).
CREATE TABLE IF NOT EXISTS schemas (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 1),
    schema       JSONB NOT NULL,
    schema_text  TEXT NOT NULL,               -- as registered (JSONB reorders keys)
    fingerprint  TEXT NOT NULL,               -- SHA-256 of the normalised text
    description  TEXT,
    status       TEXT NOT NULL DEFAULT 'active'
                 CHECK (status IN ('active', 'deprecated', 'deleted')),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (name, version)
);
CREATE INDEX IF NOT EXISTS schemas_fingerprint_idx ON schemas (name, fingerprint);

-- Per-schema compatibility mode (absent: SCHEMA_COMPATIBILITY_MODE).
CREATE TABLE IF NOT EXISTS schema_configs (
    name           TEXT PRIMARY KEY,
    compatibility  TEXT NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
