"""Kline interval arithmetic in epoch milliseconds (the simulator's hot path).

Lengths come from :mod:`petrosa_common.timeframes`; alignment follows Binance: candles open
at multiples of their length since the epoch, weekly candles on Mondays. The calendar month
(``1M``) is not simulated.
"""

from __future__ import annotations

from petrosa_common.timeframes import is_timeframe, timeframe_ms

DEFAULT_INTERVALS: tuple[str, ...] = ("1m", "5m", "15m", "1h")

_WEEK_ORIGIN_MS = 4 * 86_400_000  # 1970-01-05, the first Monday after the epoch


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
    return _WEEK_ORIGIN_MS if interval == "1w" else 0


def candle_open_ms(time_ms: int, interval: str) -> int:
    """Open time of the ``interval`` candle containing ``time_ms``."""
    length = interval_length_ms(interval)
    origin = interval_origin_ms(interval)
    return (time_ms - origin) // length * length + origin
