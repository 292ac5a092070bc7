"""Candle timeframes (``1m`` … ``1M``) and their lengths.

Binance's interval names are the vocabulary everywhere. ``1M`` is a calendar month: its
fixed-length helpers use 30 days (the expected spacing for gap arithmetic), while
:func:`floor_time` and :func:`next_open` follow the real calendar.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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

_EPOCH_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)  # Binance weekly candles open on Mondays


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


def floor_time(moment: datetime, timeframe: str) -> datetime:
    """Open time of the ``timeframe`` candle that contains ``moment`` (UTC, calendar-aware)."""
    moment = ensure_utc(moment)
    if timeframe == "1M":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    length = timeframe_seconds(timeframe)
    origin = _EPOCH_MONDAY if timeframe == "1w" else datetime(1970, 1, 1, tzinfo=UTC)
    elapsed = int((moment - origin).total_seconds() // length) * length
    return origin + timedelta(seconds=elapsed)


def next_open(moment: datetime, timeframe: str) -> datetime:
    """Open time of the candle after the one containing ``moment``."""
    start = floor_time(moment, timeframe)
    if timeframe == "1M":
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return start.replace(year=year, month=month)
    return start + timeframe_delta(timeframe)


def ensure_utc(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime; naive values are taken to be UTC.

    Raises ``ValueError`` (not ``OverflowError``) when the UTC time falls outside the years
    1-9999 (``0001-01-01T00:01+04:00``), so validators turn it into a validation error."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is outside the years 1-9999 in UTC") from None


def ms_to_datetime(epoch_ms: int) -> datetime:
    """Epoch milliseconds (Binance's time unit) to an aware UTC datetime."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def datetime_to_ms(moment: datetime) -> int:
    """Aware (or UTC-naive) datetime to epoch milliseconds."""
    return int(ensure_utc(moment).timestamp() * 1000)
