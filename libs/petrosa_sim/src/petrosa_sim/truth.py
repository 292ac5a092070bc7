"""What a perfect consumer should have stored after reading some frames.

The natural keys follow the MongoDB table of the architecture: one document per key per
collection, however often (and in whatever order) a frame arrives.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from petrosa_common.naming import DatasetKind, collection_name

from petrosa_sim.frames import Frame
from petrosa_sim.kinds import (
    AGG_TRADE,
    DEPTH_UPDATE,
    KLINE,
    MARK_PRICE,
    MINI_TICKER,
    PARTIAL_DEPTH,
    TICKER,
    TRADE,
)

_SIMPLE: dict[str, DatasetKind] = {
    TRADE: DatasetKind.TRADES,
    AGG_TRADE: DatasetKind.AGG_TRADES,
    DEPTH_UPDATE: DatasetKind.DEPTH,
    PARTIAL_DEPTH: DatasetKind.DEPTH,
    TICKER: DatasetKind.TICKERS,
    MINI_TICKER: DatasetKind.TICKERS,
}


def documents(frame: Frame) -> tuple[tuple[str, int], ...]:
    """``(collection, natural key)`` of every document ``frame`` should produce.

    Malformed frames produce none. The keys are ints: trade id, agg id, candle open time
    (the candle ``_id`` is ``"{SYMBOL}_{open_ms}"``), final update id, mark price event time,
    funding time, ticker event time. A ``markPriceUpdate`` produces two documents.
    """
    if frame.malformed or frame.key is None:
        return ()
    symbol, kind = frame.symbol, frame.kind
    if kind == KLINE:
        interval, open_ms = cast("tuple[str, int]", frame.key)
        return ((collection_name(DatasetKind.CANDLES, symbol, interval), open_ms),)
    if kind == MARK_PRICE:
        event_ms, funding_ms = cast("tuple[int, int]", frame.key)
        return (
            (collection_name(DatasetKind.MARK_PRICES, symbol), event_ms),
            (collection_name(DatasetKind.FUNDING_RATES, symbol), funding_ms),
        )
    return ((collection_name(_SIMPLE[kind], symbol), cast("int", frame.key)),)


def expected_documents(frames: Iterable[Frame]) -> dict[str, set[int]]:
    """Natural keys per collection that ``frames`` should leave in MongoDB."""
    expected: dict[str, set[int]] = {}
    for frame in frames:
        for collection, key in documents(frame):
            keys = expected.get(collection)
            if keys is None:
                expected[collection] = keys = set()
            keys.add(key)
    return expected


def expected_counts(frames: Iterable[Frame]) -> dict[str, int]:
    """Number of distinct documents per collection that ``frames`` should leave in MongoDB."""
    return {name: len(keys) for name, keys in expected_documents(frames).items()}
