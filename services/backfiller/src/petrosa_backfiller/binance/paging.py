"""Pure arithmetic of paging: candle open-time grids and request chunks.

Ranges are half-open in epoch milliseconds: ``[start_ms, end_ms)`` covers the candles whose
**open time** is ``>= start_ms`` and ``< end_ms``. So 2024-01-01 to 2024-01-31 in ``1m`` is
exactly 30 * 1,440 = 43,200 candles, and consecutive ranges never share a candle. A ``start_ms``
inside a candle starts at the next open (that candle began before the range).

Open times follow Binance's grid: multiples of the interval from the epoch, weeks from Monday
1970-01-05, months on the first of each calendar month (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from petrosa_common.timeframes import timeframe_ms

from petrosa_backfiller.binance.weights import KLINES_MAX_LIMIT

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONDAY_ORIGIN_MS = 4 * 86_400_000  # 1970-01-05, the Monday Binance's weekly candles open on


@dataclass(frozen=True, slots=True)
class KlineChunk:
    """One klines request: open times in ``[start_ms, end_ms)``, at most ``candles`` of them.

    Send ``startTime=start_ms``, ``endTime=end_ms - 1`` (Binance's bounds are inclusive) and
    ``limit=candles``, so the request never asks beyond the range and costs the least weight.
    """

    start_ms: int
    end_ms: int
    candles: int


def _ms_to_dt(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _dt_to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _month_start_ms(month_index: int) -> int:
    return _dt_to_ms(datetime(month_index // 12, month_index % 12 + 1, 1, tzinfo=UTC))


def _month_index(ms: int) -> int:
    moment = _ms_to_dt(ms)
    return moment.year * 12 + moment.month - 1


def align_open_time(ms: int, interval: str) -> int:
    """The first candle open time of ``interval`` at or after ``ms``."""
    if interval == "1M":
        index = _month_index(ms)
        start = _month_start_ms(index)
        return start if start == ms else _month_start_ms(index + 1)
    length = timeframe_ms(interval)
    origin = _MONDAY_ORIGIN_MS if interval == "1w" else 0
    return origin + -((origin - ms) // length) * length


def advance_open_time(open_ms: int, interval: str, candles: int) -> int:
    """The open time ``candles`` candles after the (aligned) open time ``open_ms``."""
    if interval == "1M":
        return _month_start_ms(_month_index(open_ms) + candles)
    return open_ms + candles * timeframe_ms(interval)


def count_candles(start_ms: int, end_ms: int, interval: str) -> int:
    """How many candle open times of ``interval`` lie in ``[start_ms, end_ms)``."""
    first = align_open_time(start_ms, interval)
    if first >= end_ms:
        return 0
    if interval == "1M":
        return _month_index(end_ms - 1) - _month_index(first) + 1
    return -((first - end_ms) // timeframe_ms(interval))


def kline_chunks(
    interval: str, start_ms: int, end_ms: int, limit: int = KLINES_MAX_LIMIT
) -> list[KlineChunk]:
    """Split ``[start_ms, end_ms)`` into requests of at most ``limit`` candles on the grid.

    Every chunk but the last holds exactly ``limit`` candles and ends on an open time; the last
    ends at ``end_ms``. An empty range gives no chunks.
    """
    if not 1 <= limit <= KLINES_MAX_LIMIT:
        raise ValueError(f"kline limit must be within 1..{KLINES_MAX_LIMIT}, got {limit}")
    chunks: list[KlineChunk] = []
    cursor = align_open_time(start_ms, interval)
    while cursor < end_ms:
        stop = min(advance_open_time(cursor, interval, limit), end_ms)
        chunks.append(KlineChunk(cursor, stop, count_candles(cursor, stop, interval)))
        cursor = stop
    return chunks


__all__ = [
    "KlineChunk",
    "advance_open_time",
    "align_open_time",
    "count_candles",
    "kline_chunks",
]
