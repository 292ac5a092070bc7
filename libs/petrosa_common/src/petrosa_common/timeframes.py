"""Candle timeframes (``1m`` … ``1M``) and their lengths.

Binance's interval names are the vocabulary everywhere. ``1M`` is a calendar month: its
fixed-length helpers use 30 days (the expected spacing for gap arithmetic), while the candle
grid of :mod:`petrosa_common.time` follows the real calendar.
"""

from __future__ import annotations

from datetime import timedelta

TIMEFRAME_SECONDS: dict[str, int] = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1_800,
    "1h": 3_600,
    "2h": 7_200,
    "4h": 14_400,
    "6h": 21_600,
    "8h": 28_800,
    "12h": 43_200,
    "1d": 86_400,
    "3d": 259_200,
    "1w": 604_800,
    "1M": 2_592_000,
}
"""Every timeframe Binance futures serves, with its nominal length in seconds."""


class UnknownTimeframeError(ValueError):
    """Raised for a timeframe name Binance does not serve."""

    def __init__(self, timeframe: str) -> None:
        super().__init__(
            f"unknown timeframe {timeframe!r}; expected one of {', '.join(TIMEFRAME_SECONDS)}"
        )
        self.timeframe = timeframe


def is_timeframe(timeframe: str) -> bool:
    """Whether ``timeframe`` is a Binance interval name."""
    return timeframe in TIMEFRAME_SECONDS


def timeframe_seconds(timeframe: str) -> int:
    """Nominal length of one candle of ``timeframe`` in seconds."""
    try:
        return TIMEFRAME_SECONDS[timeframe]
    except KeyError:
        raise UnknownTimeframeError(timeframe) from None


def timeframe_ms(timeframe: str) -> int:
    """Nominal length of one candle of ``timeframe`` in milliseconds."""
    return timeframe_seconds(timeframe) * 1000


def timeframe_delta(timeframe: str) -> timedelta:
    """Nominal length of one candle of ``timeframe`` as a ``timedelta``."""
    return timedelta(seconds=timeframe_seconds(timeframe))


def seconds_to_timeframe(seconds: int) -> str:
    """The timeframe whose nominal length is ``seconds`` (inverse of :func:`timeframe_seconds`)."""
    for name, length in TIMEFRAME_SECONDS.items():
        if length == seconds:
            return name
    raise ValueError(f"no timeframe lasts {seconds} s")
