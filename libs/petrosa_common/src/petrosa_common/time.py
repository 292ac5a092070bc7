"""Time, one home: epoch-millisecond conversions and the candle grid.

Binance's unit is the epoch millisecond (UTC); inside the code times are aware UTC datetimes.
The conversions here are exact (integer arithmetic, no float rounding). The candle grid
follows Binance: a candle of a fixed-length timeframe opens at a multiple of its length since
the epoch, except weekly candles, which open on Mondays (1970-01-05 + k weeks; the epoch was a
Thursday), and monthly candles (``1M``), which open on the first of each calendar month.

Every service takes these from here: the auditor's windows, the backfiller's chunks, the
simulator's klines and the gateway's completeness all stand on the same grid.
"""

from __future__ import annotations

import math
import re
import time as _clock
from datetime import UTC, datetime, timedelta

from petrosa_common.timeframes import timeframe_ms

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
WEEK_ORIGIN_MS = 4 * 86_400_000
"""1970-01-05T00:00Z, the first Monday of the epoch: weekly candles open k weeks after it."""


def to_epoch_ms(moment: datetime) -> int:
    """An aware datetime as integer epoch milliseconds (exact; the sub-millisecond part is
    floored). A naive datetime raises ``ValueError``: its zone is unknown."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no timezone; pass an aware one")
    return (moment - EPOCH) // ONE_MS


def from_epoch_ms(epoch_ms: int) -> datetime:
    """Integer epoch milliseconds as an aware UTC datetime (exact)."""
    return EPOCH + epoch_ms * ONE_MS


def now_ms() -> int:
    """This machine's clock in epoch milliseconds."""
    return _clock.time_ns() // 1_000_000


def ensure_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; a naive one is taken to be UTC.

    Raises ``ValueError`` (not ``OverflowError``) when the UTC time falls outside the years
    1-9999 (``0001-01-01T00:01+04:00``), so validators turn it into a validation error."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is outside the years 1-9999 in UTC") from None


def candle_open_ms(time_ms: int, timeframe: str) -> int:
    """Open time of the ``timeframe`` candle that contains ``time_ms``."""
    if timeframe == "1M":
        moment = from_epoch_ms(time_ms)
        return to_epoch_ms(moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    length = timeframe_ms(timeframe)
    origin = WEEK_ORIGIN_MS if timeframe == "1w" else 0
    return (time_ms - origin) // length * length + origin


def next_open_ms(time_ms: int, timeframe: str) -> int:
    """Open time of the candle after the one that contains ``time_ms``."""
    opened = candle_open_ms(time_ms, timeframe)
    if timeframe == "1M":
        start = from_epoch_ms(opened)
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return to_epoch_ms(start.replace(year=year, month=month))
    return opened + timeframe_ms(timeframe)


def candles_back(open_ms: int, timeframe: str, count: int) -> int:
    """Open time of the candle ``count`` candles before the one opening at ``open_ms``."""
    if timeframe != "1M":
        return open_ms - count * timeframe_ms(timeframe)
    moment = from_epoch_ms(open_ms)
    months = moment.year * 12 + moment.month - 1 - count
    return to_epoch_ms(moment.replace(year=months // 12, month=months % 12 + 1))


def candle_opens(start_ms: int, end_ms: int, timeframe: str) -> list[int]:
    """Open times of every ``timeframe`` candle opening in ``[start_ms, end_ms)``."""
    opens: list[int] = []
    current = candle_open_ms(start_ms, timeframe)
    if current < start_ms:
        current = next_open_ms(current, timeframe)
    while current < end_ms:
        opens.append(current)
        current = next_open_ms(current, timeframe)
    return opens


def count_opens(start_ms: int, end_ms: int, timeframe: str) -> int:
    """How many ``timeframe`` candles open in ``[start_ms, end_ms)``: equal to
    ``len(candle_opens(...))`` without listing them (a range may span 1970-9999 in minutes)."""
    if end_ms <= start_ms:
        return 0
    return _ordinal(end_ms, timeframe) - _ordinal(start_ms, timeframe)


def _ordinal(time_ms: int, timeframe: str) -> int:
    # Ordinal of the first open at or after time_ms, counted from the open candle_open_ms
    # places (never from a next open, which does not exist after December 9999): months by
    # the calendar, fixed lengths (weeks too: their Monday origin is under a week) by length.
    opened = candle_open_ms(time_ms, timeframe)
    later = int(opened < time_ms)
    if timeframe == "1M":
        month = from_epoch_ms(opened)
        return month.year * 12 + month.month - 1 + later
    return opened // timeframe_ms(timeframe) + later


def floor_time(moment: datetime, timeframe: str) -> datetime:
    """Open time of the ``timeframe`` candle that contains ``moment``."""
    return from_epoch_ms(candle_open_ms(to_epoch_ms(ensure_utc(moment)), timeframe))


def next_open(moment: datetime, timeframe: str) -> datetime:
    """Open time of the candle after the one that contains ``moment``."""
    return from_epoch_ms(next_open_ms(to_epoch_ms(ensure_utc(moment)), timeframe))


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")


def parse_duration(text: str | float) -> timedelta:
    """A length of time written for people: ``90`` or ``"90s"`` (seconds), ``"10m"``,
    ``"12h"``, ``"7d"``, ``"2w"``; a bare number is seconds. Raises ``ValueError`` on
    anything else, and on a negative or non-finite length.

    Units are lower-case: ``1M`` is refused rather than read as a minute (on the candle grid
    it is a month, and months differ in length).
    """
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION_RE.fullmatch(text.strip())
        if match is None:
            raise ValueError(
                f"not a duration: {text!r} (write seconds, or a number with s, m, h, d or w)"
            )
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a duration: {text!r} (must be finite and not negative)")
    return timedelta(seconds=seconds)
