-- Catalog: every stored series, and where its data came from.
CREATE TABLE IF NOT EXISTS datasets (
    id          TEXT PRIMARY KEY,            -- the collection (or table) name
    kind        TEXT NOT NULL,               -- candles, trades, agg_trades, depth, ...
    symbol      TEXT,
    timeframe   TEXT,
    storage     TEXT NOT NULL DEFAULT 'mongodb',
    collection  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS datasets_symbol_idx ON datasets (symbol);
CREATE INDEX IF NOT EXISTS datasets_kind_idx ON datasets (kind);

CREATE TABLE IF NOT EXISTS lineage_edges (
    id          BIGSERIAL PRIMARY KEY,
    source      TEXT NOT NULL,               -- e.g. nats:binance.futures.websocket.data
    process     TEXT NOT NULL,               -- e.g. ingestor, backfiller job 42
    target      TEXT NOT NULL,               -- dataset id
    details     JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (source, process, target)
);
CREATE INDEX IF NOT EXISTS lineage_edges_target_idx ON lineage_edges (target);
