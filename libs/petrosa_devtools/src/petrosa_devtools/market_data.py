"""Stored market data for tests and benchmarks, written through the ingest write path."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime

from petrosa_common.documents import WriteOp, event_writes
from petrosa_common.events import Depth, Kline, MarketEvent
from petrosa_common.mongo import Document
from petrosa_common.series_writer import SeriesWriter
from petrosa_common.time import from_epoch_ms
from petrosa_common.timeframes import timeframe_ms
from pymongo.asynchronous.database import AsyncDatabase

END_MS = 1_767_225_600_000
"""2026-01-01T00:00:00Z: the default end of generated candles (the last opens a bar before)."""


def klines(
    symbol: str,
    timeframe: str,
    count: int,
    *,
    seed: int,
    end_ms: int = END_MS,
    start_price: float = 100.0,
    skip: frozenset[int] = frozenset(),
) -> list[Kline]:
    """``count`` closed candles of a seeded random walk, the last opening one bar before
    ``end_ms``; indexes in ``skip`` are left out (holes)."""
    rng = random.Random(seed)  # noqa: S311 - test data, not security
    step = timeframe_ms(timeframe)
    events: list[Kline] = []
    previous = start_price
    for index in range(count):
        close = previous * (1 + rng.gauss(0, 0.002))
        open_ms = end_ms - (count - index) * step
        high = max(previous, close) * (1 + abs(rng.gauss(0, 0.001)))
        low = min(previous, close) * (1 - abs(rng.gauss(0, 0.001)))
        volume = rng.uniform(5, 50)
        if index not in skip:
            events.append(
                Kline(
                    symbol=symbol,
                    interval=timeframe,
                    open_time=from_epoch_ms(open_ms),
                    close_time=from_epoch_ms(open_ms + step - 1),
                    open=previous,
                    high=high,
                    low=low,
                    close=close,
                    volume=volume,
                    quote_volume=volume * close,
                    trades_count=rng.randint(10, 100),
                    taker_buy_base_volume=volume * rng.uniform(0.3, 0.7),
                    taker_buy_quote_volume=0.0,
                    is_closed=True,
                    event_time_ms=open_ms + step - 1,
                    open_time_ms=open_ms,
                )
            )
        previous = close
    return events


def book(symbol: str, mid: float, *, update_id: int = 1, at_ms: int = END_MS) -> Depth:
    """A partial book snapshot around ``mid``: 20 levels a side, 0.01 % apart."""
    return Depth(
        symbol=symbol,
        final_update_id=update_id,
        first_update_id=None,
        previous_final_update_id=None,
        bids=[(mid * (1 - 0.0001 * (i + 1)), 1.0 + i) for i in range(20)],
        asks=[(mid * (1 + 0.0001 * (i + 1)), 1.0 + i) for i in range(20)],
        event_time=from_epoch_ms(at_ms),
        transaction_time=None,
        is_snapshot=True,
    )


async def store(db: AsyncDatabase[Document], events: Sequence[MarketEvent]) -> None:
    """Write ``events`` as the ingestor would (idempotent natural-key writes)."""
    writer = SeriesWriter(db)
    now = datetime.now(UTC)
    by_collection: dict[str, list[WriteOp]] = {}
    for event in events:
        for op in event_writes(event):
            by_collection.setdefault(op.collection, []).append(op)
    for collection, ops in by_collection.items():
        outcome = await writer.write(collection, ops, now)
        if outcome.refused:
            raise AssertionError(f"{collection}: refused {outcome.refused}")
