"""Audit of one candle series over one window: read timestamps, find gaps and duplicates,
remove duplicates when allowed, score health. Only ``_id``, ``timestamp`` and
``ingested_at`` are read; the arithmetic is vectorised (:mod:`petrosa_auditor.gap_detector`).
"""

from __future__ import annotations

from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
from petrosa_common.mongo import Document
from petrosa_common.naming import DatasetKind, collection_name
from petrosa_common.time import candle_open_ms, candles_back, from_epoch_ms, to_epoch_ms
from petrosa_common.timeframes import timeframe_ms
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from petrosa_auditor.duplicate_detector import (
    DuplicateGroup,
    Removal,
    count_duplicates,
    find_duplicates,
    plan_removal,
)
from petrosa_auditor.gap_detector import Gap, detect_gaps, detect_id_gaps, severity_for
from petrosa_auditor.health_scorer import HealthScore, score

REMOVAL_BATCH = 500


@dataclass(frozen=True, slots=True)
class Window:
    """The audited half-open window ``[start_ms, end_ms)``, aligned to the candle grid."""

    start_ms: int
    end_ms: int


@dataclass(slots=True)
class SeriesResult:
    """What one series audit found (written to PostgreSQL by the cycle)."""

    symbol: str
    timeframe: str
    window: Window
    records_in_window: int
    first_ms: int | None
    last_ms: int | None
    gaps: list[Gap]
    duplicate_groups: list[DuplicateGroup]
    removed: list[Removal] = field(default_factory=list)
    health: HealthScore | None = None
    error: str | None = None
    kind: DatasetKind = DatasetKind.CANDLES

    @property
    def dataset_id(self) -> str:
        """The catalog id (the collection name)."""
        if self.kind is DatasetKind.CANDLES:
            return collection_name(self.kind, self.symbol, self.timeframe)
        return collection_name(self.kind, self.symbol)

    @property
    def duplicates(self) -> int:
        """Surplus duplicate documents found."""
        return count_duplicates(self.duplicate_groups)


def window_for(timeframe: str, *, now_ms: int, lookback_seconds: float) -> Window:
    """``[end - lookback, end)`` in whole candles (at least one), with ``end`` the open of the
    candle forming now (excluded), on Binance's grid (weekly candles open on Mondays)."""
    end = candle_open_ms(now_ms, timeframe)
    candles = max(1, int(lookback_seconds * 1000) // timeframe_ms(timeframe))
    return Window(candles_back(end, timeframe, candles), end)


async def audit_series(
    db: AsyncDatabase[Document],
    *,
    symbol: str,
    timeframe: str,
    window: Window,
    now_ms: int,
    tolerance_ms: int,
    min_gap_ms: int,
    removal_strategy: Literal["keep_newest", "keep_oldest"] | None,
    before_removal: Callable[[], Awaitable[object]],
) -> SeriesResult:
    """Audit one series. ``removal_strategy`` None = detect only; ``before_removal`` is the
    fencing check run before every removal batch (it raises when leadership was lost)."""
    interval = timeframe_ms(timeframe)
    collection = db[collection_name(DatasetKind.CANDLES, symbol, timeframe)]
    selector = {
        "timestamp": {"$gte": from_epoch_ms(window.start_ms), "$lt": from_epoch_ms(window.end_ms)}
    }
    # Bounded by the window: a closed ``timestamp`` range on the ``timestamp`` index holding
    # one candle per grid slot (window / interval) plus duplicates, which the audit must see
    # all of; so no limit, and no sort (the arithmetic sorts).
    docs = await collection.find(selector, {"timestamp": 1, "ingested_at": 1}).to_list()
    open_ms = np.fromiter((_ms(doc["timestamp"]) for doc in docs), dtype=np.int64, count=len(docs))
    ids = [doc["_id"] for doc in docs]
    inserted = [_optional_ms(doc.get("ingested_at")) for doc in docs]
    gaps = detect_gaps(
        open_ms,
        interval_ms=interval,
        start_ms=window.start_ms,
        end_ms=window.end_ms,
        tolerance_ms=tolerance_ms,
        min_gap_ms=min_gap_ms,
    )
    groups = find_duplicates(open_ms, ids, inserted)
    distinct = int(np.unique(open_ms).size) if docs else 0
    result = SeriesResult(
        symbol=symbol,
        timeframe=timeframe,
        window=window,
        records_in_window=len(docs),
        first_ms=int(open_ms.min()) if docs else None,
        last_ms=int(open_ms.max()) if docs else None,
        gaps=gaps,
        duplicate_groups=groups,
    )
    if groups and removal_strategy is not None:
        result.removed = await _remove(
            collection, plan_removal(groups, removal_strategy), before_removal
        )
    result.health = score(
        actual_records=distinct,
        expected_records=(window.end_ms - window.start_ms) // interval,
        gaps=len(gaps),
        duplicates=result.duplicates,
        newest_open_ms=result.last_ms,
        interval_seconds=interval // 1000,
        now_ms=now_ms,
    )
    return result


AGG_TRADES_LABEL = "aggTrade"
"""The ``timeframe`` label of agg-trade id audits (metrics, audit tables)."""

AGG_AUDIT_MAX_TRADES = 200_000
"""Most aggregate trades one id audit reads: the newest ones of the window. A busy symbol
trades far more than a candle series holds in a window (hundreds per second), so the count of
trades in ``AUDIT_AGG_TRADES_LOOKBACK`` does not bound the read; this does (and the memory:
two int64 per trade, ~3 MB, however long the lookback)."""


async def audit_agg_ids(
    db: AsyncDatabase[Document],
    *,
    symbol: str,
    window: Window,
    max_trades: int = AGG_AUDIT_MAX_TRADES,
) -> SeriesResult:
    """Holes in the consecutive aggregate-trade id sequence of ``symbol`` in ``window``.

    The ``_id`` of an agg trade is its Binance agg id. Each hole becomes a :class:`Gap`
    between the times of the trades around it, ``missing_candles`` holding the missing ids.

    One bounded read: the window's ``timestamp`` range, newest first (the ``timestamp``
    index serves the sort), at most ``max_trades`` + 1 trades. When the window holds more,
    the audit covers its newest part only: the result's ``window`` starts 1 ms after the
    oldest time read, and the trades read at that time are dropped (some of its trades may
    be unread, and a partial millisecond would look like a hole). A known gap before the
    covered part is then neither seen nor resolved (:func:`merge_known` with the window).
    """
    if max_trades < 1:
        raise ValueError(f"max_trades must be at least 1, got {max_trades}")
    collection = db[collection_name(DatasetKind.AGG_TRADES, symbol)]
    selector = {
        "timestamp": {"$gte": from_epoch_ms(window.start_ms), "$lt": from_epoch_ms(window.end_ms)}
    }
    cursor = collection.find(
        selector, {"timestamp": 1}, sort=[("timestamp", DESCENDING)], limit=max_trades + 1
    )
    read_ids, read_times = array("q"), array("q")
    async for doc in cursor:  # straight into arrays: no list of documents is held
        read_ids.append(int(doc["_id"]))
        read_times.append(_ms(doc["timestamp"]))
    ids = np.frombuffer(read_ids, dtype=np.int64)
    times = np.frombuffer(read_times, dtype=np.int64)
    if ids.size > max_trades:
        cut = int(times[-1])  # newest first: the oldest time read
        newer = times > cut
        ids, times = ids[newer], times[newer]
        window = Window(cut + 1, window.end_ms)
    order = np.argsort(ids, kind="stable")
    ids, times = ids[order], times[order]
    gaps = []
    for hole in detect_id_gaps(ids):
        before = int(times[np.searchsorted(ids, hole.first_missing - 1)])
        after = int(times[np.searchsorted(ids, hole.last_missing + 1)])
        duration = max(0, after - before) / 1000
        gaps.append(
            Gap(
                before, max(before, after), duration, hole.count, "internal", severity_for(duration)
            )
        )
    return SeriesResult(
        symbol=symbol,
        timeframe=AGG_TRADES_LABEL,
        window=window,
        records_in_window=int(ids.size),
        first_ms=int(times.min()) if ids.size else None,
        last_ms=int(times.max()) if ids.size else None,
        gaps=gaps,
        duplicate_groups=[],
        kind=DatasetKind.AGG_TRADES,
    )


async def _remove(
    collection: Any, removals: list[Removal], before_removal: Callable[[], Awaitable[object]]
) -> list[Removal]:
    """Delete surplus copies in batches, checking the fencing term before each batch."""
    done: list[Removal] = []
    for start in range(0, len(removals), REMOVAL_BATCH):
        batch = removals[start : start + REMOVAL_BATCH]
        await before_removal()
        ids = [doc_id for removal in batch for doc_id in removal.remove_ids]
        if ids:
            await collection.delete_many({"_id": {"$in": ids}})
        done.extend(batch)
    return done


def _ms(value: datetime) -> int:
    return to_epoch_ms(value)


def _optional_ms(value: object) -> int | None:
    return to_epoch_ms(value) if isinstance(value, datetime) else None
