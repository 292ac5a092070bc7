"""Stored market data for analytics tests, written through the ingest write path."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from petrosa_common.documents import event_writes
from petrosa_common.events import Depth, Kline
from petrosa_common.mongo import Document
from petrosa_common.series_writer import SeriesWriter
from petrosa_common.timeframes import timeframe_ms
from pymongo.asynchronous.database import AsyncDatabase

END_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


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
    """``count`` closed candles of a seeded random walk, the last opening at ``end_ms`` minus
    one bar; indexes in ``skip`` are left out (holes)."""
    rng = np.random.default_rng(seed)
    step = timeframe_ms(timeframe)
    closes = start_price * np.exp(np.cumsum(rng.normal(0, 0.002, count)))
    events = []
    previous = start_price
    for index, close in enumerate(closes):
        open_ms = end_ms - (count - index) * step
        high = max(previous, close) * (1 + abs(rng.normal(0, 0.001)))
        low = min(previous, close) * (1 - abs(rng.normal(0, 0.001)))
        volume = float(rng.uniform(5, 50))
        if index not in skip:
            events.append(
                Kline(
                    symbol=symbol,
                    interval=timeframe,
                    open_time=_at(open_ms),
                    close_time=_at(open_ms + step - 1),
                    open=float(previous),
                    high=float(high),
                    low=float(low),
                    close=float(close),
                    volume=volume,
                    quote_volume=volume * float(close),
                    trades_count=int(rng.integers(10, 100)),
                    taker_buy_base_volume=volume * float(rng.uniform(0.3, 0.7)),
                    taker_buy_quote_volume=0.0,
                    is_closed=True,
                    event_time_ms=open_ms + step - 1,
                    open_time_ms=open_ms,
                )
            )
        previous = float(close)
    return events


async def store(db: AsyncDatabase[Document], events: list[Kline] | list[Depth]) -> None:
    """Write ``events`` as the ingestor would."""
    writer = SeriesWriter(db)
    now = datetime.now(UTC)
    by_collection: dict[str, list] = {}  # type: ignore[type-arg]
    for event in events:
        for op in event_writes(event):
            by_collection.setdefault(op.collection, []).append(op)
    for collection, ops in by_collection.items():
        outcome = await writer.write(collection, ops, now)
        assert not outcome.refused, outcome.refused


def book(symbol: str, mid: float, *, update_id: int = 1, at_ms: int = END_MS) -> Depth:
    """A partial book snapshot around ``mid``: 20 levels a side, 0.01 % apart."""
    bids = [(mid * (1 - 0.0001 * (i + 1)), 1.0 + i) for i in range(20)]
    asks = [(mid * (1 + 0.0001 * (i + 1)), 1.0 + i) for i in range(20)]
    return Depth(
        symbol=symbol,
        final_update_id=update_id,
        first_update_id=None,
        previous_final_update_id=None,
        bids=bids,
        asks=asks,
        event_time=_at(at_ms),
        transaction_time=None,
        is_snapshot=True,
    )
