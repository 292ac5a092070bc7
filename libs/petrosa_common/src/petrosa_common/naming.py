"""Names shared by every service: collections, NATS subjects, dataset kinds.

One source of truth: no service spells a collection name or subject by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from petrosa_common.timeframes import is_timeframe


class DatasetKind(StrEnum):
    """The kinds of market series, each stored one collection per symbol (and timeframe)."""

    CANDLES = "candles"
    TRADES = "trades"
    AGG_TRADES = "agg_trades"
    DEPTH = "depth"
    MARK_PRICES = "mark_prices"
    FUNDING_RATES = "funding_rates"
    TICKERS = "tickers"


# Coordination collections (read-only through the generic CRUD API).
LEADER_ELECTION_COLLECTION = "leader_election"
DEAD_LETTERS_COLLECTION = "dead_letters"
SCHEMAS_COLLECTION = "schemas"
SCHEMA_CONFIGS_COLLECTION = "schema_configs"
"""Per-schema compatibility modes (a MongoDB collection and a PostgreSQL table alike)."""
COORDINATION_COLLECTIONS = frozenset(
    {
        LEADER_ELECTION_COLLECTION,
        DEAD_LETTERS_COLLECTION,
        SCHEMAS_COLLECTION,
        SCHEMA_CONFIGS_COLLECTION,
    }
)

# NATS subjects.
MARKET_DATA_SUBJECT = "binance.futures.websocket.data"
SUBJECT_PREFIX = "data_manager"
BACKFILL_REQUEST_SUBJECT = f"{SUBJECT_PREFIX}.backfill.request"
BACKFILL_JOBS_GET_SUBJECT = f"{SUBJECT_PREFIX}.backfill.jobs.get"
BACKFILL_CANCEL_SUBJECT = f"{SUBJECT_PREFIX}.backfill.cancel"
AUDIT_CYCLE_SUBJECT = f"{SUBJECT_PREFIX}.audit.cycle"
AUDIT_GAP_SUBJECT = f"{SUBJECT_PREFIX}.audit.gap"
ANALYTICS_UPDATED_SUBJECT = f"{SUBJECT_PREFIX}.analytics.updated"
ANALYTICS_COMPUTE_SUBJECT = f"{SUBJECT_PREFIX}.analytics.compute"
SCHEMAS_CHANGED_SUBJECT = f"{SUBJECT_PREFIX}.schemas.changed"
"""A gateway changed the schema registry: every gateway drops its schema cache."""


def backfill_event_subject(status: str) -> str:
    """Subject on which backfill job events of ``status`` are published."""
    return f"{SUBJECT_PREFIX}.backfill.events.{status}"


def query_subject(resource: str) -> str:
    """Subject on which the gateway answers read queries for ``resource``."""
    return f"{SUBJECT_PREFIX}.query.{resource}"


# Binance's symbol pattern (``^[A-Z0-9-_.]{1,20}$``) narrowed to what names a collection
# safely: 2 to 20 upper-case letters and digits, at least one letter ("00" names nothing).
_SYMBOL_RE = re.compile(r"(?=[A-Z0-9]*[A-Z])[A-Z0-9]{2,20}")


def is_symbol(symbol: str) -> bool:
    """Whether ``symbol`` looks like a Binance symbol: 2 to 20 upper-case letters and digits,
    at least one of them a letter."""
    return _SYMBOL_RE.fullmatch(symbol) is not None


def collection_name(kind: DatasetKind, symbol: str, timeframe: str | None = None) -> str:
    """The collection holding ``kind`` data of ``symbol`` (candles also need ``timeframe``)."""
    if kind is DatasetKind.CANDLES:
        if timeframe is None:
            raise ValueError("candles need a timeframe")
        return f"candles_{symbol}_{timeframe}"
    return f"{kind.value}_{symbol}"


@dataclass(frozen=True, slots=True)
class SeriesName:
    """A collection name taken apart."""

    kind: DatasetKind
    symbol: str
    timeframe: str | None = None


# Longest prefixes first: "agg_trades_" must win over "trades_".
_KIND_PREFIXES = sorted(DatasetKind, key=lambda kind: len(kind.value), reverse=True)


def parse_collection_name(name: str) -> SeriesName | None:
    """Inverse of :func:`collection_name`; ``None`` when ``name`` is not a market series."""
    for kind in _KIND_PREFIXES:
        prefix = f"{kind.value}_"
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix) :]
        if kind is DatasetKind.CANDLES:
            symbol, _, timeframe = rest.rpartition("_")
            if is_symbol(symbol) and is_timeframe(timeframe):
                return SeriesName(kind, symbol, timeframe)
            return None
        return SeriesName(kind, rest) if is_symbol(rest) else None
    return None
