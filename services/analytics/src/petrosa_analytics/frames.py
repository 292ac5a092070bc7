"""Closed candles per series, held in memory between cycles and topped up with new bars only.

The first read of a series takes its most recent ``keep`` closed bars (newest first, by the
``timestamp`` index, then reversed); later reads take only closed bars newer than the last one
held, so a cycle reads what is new, not the history. Every ``full_refresh_every`` reads the
window is read whole again, which picks up bars backfilled inside it since; so is every read
of a series that holds fewer than ``keep`` bars (a fresh run's first live bars, before the
backfill of the history behind them lands), so a window fills as soon as its history is
stored.

Every read is bounded by ``keep``: newest first on the ``timestamp`` index with a limit, so
MongoDB stops after ``keep`` bars even when a cycle comes long after the last (a leader
taking over a cache it held days ago, a series backfilled far ahead): at most ``keep`` new
bars can stay in the frame, so no more are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl
from petrosa_common.mongo import Document
from petrosa_common.naming import DatasetKind, collection_name
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

COLUMNS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "taker_buy_base_volume",
    "trades_count",
)
_PROJECTION = {"_id": 0, "timestamp": 1, **dict.fromkeys(COLUMNS, 1)}
SCHEMA: dict[str, pl.DataType] = {
    "open_time": pl.Datetime("ms", "UTC"),
    **{column: pl.Float64() for column in COLUMNS},
}


def to_frame(documents: list[Document]) -> pl.DataFrame:
    """Candle documents (oldest first) as a frame of :data:`SCHEMA`; missing numbers are null."""
    rows: dict[str, list[Any]] = {"open_time": [d["timestamp"] for d in documents]}
    for column in COLUMNS:
        rows[column] = [_float(d.get(column)) for d in documents]
    return pl.DataFrame(rows, schema=SCHEMA)


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


async def read_latest(db: AsyncDatabase[Document], collection: str, count: int) -> pl.DataFrame:
    """The ``count`` most recent closed candles of ``collection``, oldest first."""
    cursor = (
        db[collection]
        .find({"is_closed": True}, _PROJECTION)
        .sort("timestamp", DESCENDING)
        .limit(count)
    )
    documents = await cursor.to_list()
    documents.reverse()
    return to_frame(documents)


@dataclass(slots=True)
class _Series:
    frame: pl.DataFrame
    reads: int = 0


@dataclass(slots=True)
class CandleCache:
    """Per-series frames of closed candles, at most ``keep(timeframe)`` bars each."""

    db: AsyncDatabase[Document]
    full_refresh_every: int
    series: dict[tuple[str, str], _Series] = field(default_factory=dict)
    documents_read: int = 0
    """Candle documents read since start (the cycle reports the difference)."""

    async def frame(self, symbol: str, timeframe: str, keep: int) -> pl.DataFrame:
        """Closed candles of ``symbol``/``timeframe``, oldest first, topped up from MongoDB."""
        collection = collection_name(DatasetKind.CANDLES, symbol, timeframe)
        held = self.series.get((symbol, timeframe))
        if (
            held is None
            or held.reads % self.full_refresh_every == 0
            or held.frame.height < keep  # not full yet: history may have been backfilled
        ):
            fresh = await read_latest(self.db, collection, keep)
            self.documents_read += fresh.height
            held = _Series(fresh, held.reads if held is not None else 0)
        else:
            last = held.frame["open_time"][-1]
            documents = (
                await self.db[collection]
                .find({"is_closed": True, "timestamp": {"$gt": last}}, _PROJECTION)
                .sort("timestamp", DESCENDING)
                .limit(keep)
                .to_list()
            )
            documents.reverse()
            self.documents_read += len(documents)
            if documents:
                merged = pl.concat([held.frame, to_frame(documents)])
                held.frame = merged.unique("open_time", keep="last").sort("open_time").tail(keep)
        held.reads += 1
        self.series[(symbol, timeframe)] = held
        return held.frame
