"""Kline interval arithmetic in epoch milliseconds (the simulator's hot path).

Lengths come from :mod:`petrosa_common.timeframes`, the grid from :mod:`petrosa_common.time`
(candles open at multiples of their length since the epoch, weekly candles on Mondays). The
calendar month (``1M``) is not simulated.
"""

from __future__ import annotations

from petrosa_common.time import WEEK_ORIGIN_MS
from petrosa_common.time import candle_open_ms as _candle_open_ms
from petrosa_common.timeframes import is_timeframe, timeframe_ms

DEFAULT_INTERVALS: tuple[str, ...] = ("1m", "5m", "15m", "1h")


class UnsupportedIntervalError(ValueError):
    """Raised for an interval the simulator cannot produce."""


def check_interval(interval: str) -> str:
    """Return ``interval`` if the simulator can produce its klines, else raise."""
    if not is_timeframe(interval):
        raise UnsupportedIntervalError(f"unknown kline interval {interval!r}")
    if interval == "1M":
        raise UnsupportedIntervalError("calendar-month klines (1M) are not simulated")
    return interval


def interval_length_ms(interval: str) -> int:
    """Length of one candle of ``interval`` in milliseconds."""
    return timeframe_ms(check_interval(interval))


def interval_origin_ms(interval: str) -> int:
    """Epoch offset candles of ``interval`` are aligned to (Mondays for ``1w``)."""
    return WEEK_ORIGIN_MS if interval == "1w" else 0


def candle_open_ms(time_ms: int, interval: str) -> int:
    """Open time of the ``interval`` candle containing ``time_ms``."""
    return _candle_open_ms(time_ms, check_interval(interval))
