"""The eight common schemas ``POST /schemas/bootstrap`` registers without a body.

The market schemas describe the documents this system stores (``petrosa_common.documents``)
as the API shows them: dates as ISO-8601 strings, book levels as ``{price, quantity}``
objects. ``required`` holds what every writer sets (the seed's fields for candles, so its
examples validate); ``properties`` types every field the ingestor and backfiller write.
A test ingests real frames and validates the stored documents against them.
The PostgreSQL ones describe the ``health_metrics`` and ``audit_logs`` tables (0002), the
seed's orders and the strategy signals other Petrosa services send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from petrosa_gateway.registry.models import Database

_SYMBOL: Final = {"type": "string", "pattern": "^[A-Z0-9]+$", "minLength": 2, "maxLength": 20}
_TIME: Final = {"type": "string", "format": "date-time"}
_PRICE: Final = {"type": "number", "minimum": 0}
_COUNT: Final = {"type": "integer", "minimum": 0}
_SOURCE: Final = {"type": "string", "enum": ["websocket", "backfill", "api"]}
_LEVEL: Final = {
    "type": "object",
    "required": ["price", "quantity"],
    "properties": {"price": _PRICE, "quantity": _PRICE},
    "additionalProperties": False,
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


@dataclass(frozen=True, slots=True)
class CommonSchema:
    """A schema registered by bootstrap."""

    database: Database
    name: str
    description: str
    schema: dict[str, Any]


CANDLE: Final = CommonSchema(
    Database.MONGODB,
    "candle_v1",
    "OHLCV candle data schema",
    {
        "title": "candle_v1",
        "type": "object",
        "required": ["symbol", "timestamp", "open", "high", "low", "close", "volume"],
        "properties": {
            "_id": {"type": "string"},
            "symbol": _SYMBOL,
            "timeframe": {"type": "string"},
            "timestamp": _TIME,
            "close_time": _TIME,
            "open": _PRICE,
            "high": _PRICE,
            "low": _PRICE,
            "close": _PRICE,
            "volume": _PRICE,
            "quote_volume": _PRICE,
            "trades_count": _COUNT,
            "taker_buy_base_volume": _PRICE,
            "taker_buy_quote_volume": _PRICE,
            "is_closed": {"type": "boolean"},
            "event_time_ms": _COUNT,
            "source": _SOURCE,
            "ingested_at": _TIME,
        },
    },
)
TRADE: Final = CommonSchema(
    Database.MONGODB,
    "trade_v1",
    "Individual trade (trades_{SYMBOL}), keyed by Binance trade id",
    {
        "title": "trade_v1",
        "type": "object",
        "required": ["symbol", "timestamp", "price", "quantity"],
        "properties": {
            "_id": {"type": "integer"},
            "symbol": _SYMBOL,
            "trade_id": _COUNT,
            "timestamp": _TIME,
            "price": _PRICE,
            "quantity": _PRICE,
            "quote_quantity": _PRICE,
            "is_buyer_maker": {"type": "boolean"},
            "event_time": _TIME,
            "source": _SOURCE,
            "ingested_at": _TIME,
        },
    },
)
DEPTH: Final = CommonSchema(
    Database.MONGODB,
    "depth_v1",
    "Order book depth (depth_{SYMBOL}): levels as {price, quantity} objects",
    {
        "title": "depth_v1",
        "type": "object",
        "required": ["symbol", "timestamp", "bids", "asks"],
        "properties": {
            "_id": {"type": "integer"},
            "symbol": _SYMBOL,
            "final_update_id": _COUNT,
            "first_update_id": _nullable(_COUNT),
            "previous_final_update_id": _nullable(_COUNT),
            "timestamp": _TIME,
            "transaction_time": _nullable(_TIME),
            "bids": {"type": "array", "items": _LEVEL},
            "asks": {"type": "array", "items": _LEVEL},
            "is_snapshot": {"type": "boolean"},
            "source": _SOURCE,
            "ingested_at": _TIME,
        },
    },
)
FUNDING: Final = CommonSchema(
    Database.MONGODB,
    "funding_v1",
    "Funding rate (funding_rates_{SYMBOL}) at its funding time; is_closed once settled",
    {
        "title": "funding_v1",
        "type": "object",
        "required": ["symbol", "timestamp", "funding_rate"],
        "properties": {
            "_id": {"type": "string"},
            "symbol": _SYMBOL,
            "timestamp": _TIME,
            "funding_rate": {"type": "number"},
            "mark_price": _nullable(_PRICE),
            "index_price": _nullable(_PRICE),
            "event_time_ms": _COUNT,
            "is_closed": {"type": "boolean"},
            "source": _SOURCE,
            "ingested_at": _TIME,
        },
    },
)
ORDER: Final = CommonSchema(
    Database.POSTGRES,
    "order_v1",
    "Order management schema",
    {
        "title": "order_v1",
        "type": "object",
        "required": ["order_id", "symbol", "side", "type", "status"],
        "properties": {
            "order_id": {"type": "string"},
            "symbol": _SYMBOL,
            "side": {"type": "string", "enum": ["BUY", "SELL"]},
            "type": {"type": "string", "enum": ["LIMIT", "MARKET"]},
            "status": {"type": "string", "enum": ["NEW", "FILLED", "CANCELED"]},
            "quantity": _PRICE,
            "price": _PRICE,
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    },
)
_SCORE: Final = {"type": "number", "minimum": 0, "maximum": 100}
HEALTH_METRICS: Final = CommonSchema(
    Database.POSTGRES,
    "health_metrics_v1",
    "Health score of a dataset (health_metrics table, written by the auditor; scores 0-100)",
    {
        "title": "health_metrics_v1",
        "type": "object",
        "required": [
            "dataset_id",
            "symbol",
            "timeframe",
            "completeness",
            "freshness",
            "consistency",
            "quality",
            "level",
        ],
        "properties": {
            "id": _COUNT,
            "timestamp": _TIME,
            "dataset_id": {"type": "string"},
            "symbol": _SYMBOL,
            "timeframe": {"type": "string"},
            "completeness": _SCORE,
            "freshness": _SCORE,
            "consistency": _SCORE,
            "quality": _SCORE,
            "level": {"type": "string", "enum": ["healthy", "degraded", "unhealthy", "critical"]},
            "gaps": _COUNT,
            "duplicates": _COUNT,
            "record_count": _COUNT,
            "details": {"type": "object"},
        },
    },
)
AUDIT_LOG: Final = CommonSchema(
    Database.POSTGRES,
    "audit_log_v1",
    "Audit trail entry (audit_logs table, written by the auditor)",
    {
        "title": "audit_log_v1",
        "type": "object",
        "required": ["check_type", "severity", "message"],
        "properties": {
            "id": _COUNT,
            "timestamp": _TIME,
            "dataset_id": {"type": ["string", "null"]},
            "symbol": {"type": ["string", "null"]},
            "timeframe": {"type": ["string", "null"]},
            "check_type": {"type": "string", "minLength": 1},
            "severity": {"type": "string", "enum": ["info", "low", "medium", "high", "critical"]},
            "message": {"type": "string"},
            "details": {"type": "object"},
        },
    },
)
STRATEGY_SIGNAL: Final = CommonSchema(
    Database.POSTGRES,
    "strategy_signal_v1",
    "Trading signal emitted by a strategy",
    {
        "title": "strategy_signal_v1",
        "type": "object",
        "required": ["strategy_id", "symbol", "action", "confidence", "timestamp"],
        "properties": {
            "strategy_id": {"type": "string", "minLength": 1},
            "symbol": _SYMBOL,
            "action": {"type": "string", "enum": ["buy", "sell", "hold", "close"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "price": _PRICE,
            "quantity": _PRICE,
            "timeframe": {"type": "string"},
            "timestamp": _TIME,
            "metadata": {"type": "object"},
        },
    },
)

COMMON_SCHEMAS: Final = (
    CANDLE,
    TRADE,
    DEPTH,
    FUNDING,
    ORDER,
    HEALTH_METRICS,
    AUDIT_LOG,
    STRATEGY_SIGNAL,
)


def common_name_for(description: str | None) -> str | None:
    """The common schema's name with this description (bootstrap items may omit names)."""
    for common in COMMON_SCHEMAS:
        if description is not None and common.description == description:
            return common.name
    return None
