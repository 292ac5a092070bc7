"""petrosa_common.time: exact epoch-ms conversions and Binance's candle grid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from petrosa_common.time import (
    candle_open_ms,
    candle_opens,
    candles_back,
    count_opens,
    ensure_utc,
    floor_time,
    from_epoch_ms,
    next_open,
    next_open_ms,
    parse_duration,
    to_epoch_ms,
)

NOW = 1_704_067_200_000  # 2024-01-01T00:00:00Z, a Monday


def ms(*parts: int) -> int:
    return to_epoch_ms(datetime(*parts, tzinfo=UTC))  # type: ignore[misc]


def test_to_epoch_ms_converts_aware_datetimes_exactly() -> None:
    assert to_epoch_ms(datetime(2024, 1, 1, tzinfo=UTC)) == NOW
    plus_two = timezone(timedelta(hours=2))
    assert to_epoch_ms(datetime(2024, 1, 1, 2, 0, 0, 123_999, tzinfo=plus_two)) == NOW + 123
    assert to_epoch_ms(datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC)) == -1


def test_to_epoch_ms_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_epoch_ms(datetime(2024, 1, 1))


def test_from_epoch_ms_round_trips() -> None:
    moment = from_epoch_ms(NOW + 1)
    assert moment == datetime(2024, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)
    assert moment.tzinfo is UTC
    assert to_epoch_ms(moment) == NOW + 1


@pytest.mark.parametrize(
    ("moment", "timeframe", "opened"),
    [
        ((2024, 1, 4, 13, 7, 5), "1m", (2024, 1, 4, 13, 7)),
        ((2024, 1, 4, 13, 7, 5), "15m", (2024, 1, 4, 13, 0)),
        ((2024, 1, 4, 13, 7, 5), "4h", (2024, 1, 4, 12, 0)),
        ((2024, 1, 4, 13, 7, 5), "1d", (2024, 1, 4, 0, 0)),
        ((2024, 1, 4, 13, 7, 5), "3d", (2024, 1, 3, 0, 0)),  # 3-day candles since the epoch
        # Weekly candles open on Mondays: 2024-01-04 is a Thursday, 2024-01-07 a Sunday.
        ((2024, 1, 4, 13, 7, 5), "1w", (2024, 1, 1, 0, 0)),
        ((2024, 1, 7, 23, 59, 59), "1w", (2024, 1, 1, 0, 0)),
        ((2024, 1, 8, 0, 0, 0), "1w", (2024, 1, 8, 0, 0)),
        ((1970, 1, 1, 0, 0, 0), "1w", (1969, 12, 29, 0, 0)),
        # Monthly candles open on the first of the calendar month.
        ((2024, 2, 29, 23, 0, 0), "1M", (2024, 2, 1, 0, 0)),
        ((2024, 12, 31, 23, 59, 59), "1M", (2024, 12, 1, 0, 0)),
    ],
)
def test_candles_open_on_binances_grid(
    moment: tuple[int, ...], timeframe: str, opened: tuple[int, ...]
) -> None:
    assert candle_open_ms(ms(*moment), timeframe) == ms(*opened)
    assert floor_time(datetime(*moment, tzinfo=UTC), timeframe) == datetime(*opened, tzinfo=UTC)  # type: ignore[misc]


def test_next_opens_follow_weeks_and_calendar_months() -> None:
    assert next_open_ms(ms(2024, 1, 4), "1w") == ms(2024, 1, 8)
    assert next_open_ms(ms(2024, 1, 31, 12), "1M") == ms(2024, 2, 1)
    assert next_open_ms(ms(2024, 12, 5), "1M") == ms(2025, 1, 1)
    assert next_open(datetime(2024, 2, 10, tzinfo=UTC), "1M") == datetime(2024, 3, 1, tzinfo=UTC)
    assert candles_back(ms(2024, 3, 1), "1M", 3) == ms(2023, 12, 1)
    assert candles_back(ms(2024, 1, 8), "1w", 2) == ms(2023, 12, 25)


def test_candle_opens_lists_the_grid_in_a_half_open_range() -> None:
    assert candle_opens(ms(2024, 1, 1, 0, 0, 30), ms(2024, 1, 1, 0, 3), "1m") == [
        ms(2024, 1, 1, 0, 1),
        ms(2024, 1, 1, 0, 2),
    ]
    assert candle_opens(ms(2024, 1, 1), ms(2024, 4, 1), "1M") == [
        ms(2024, 1, 1),
        ms(2024, 2, 1),
        ms(2024, 3, 1),
    ]


@pytest.mark.parametrize("timeframe", ["1m", "15m", "1d", "3d", "1w", "1M"])
def test_count_opens_equals_the_listed_grid(timeframe: str) -> None:
    for start, end in [(ms(2024, 1, 3, 5), ms(2024, 9, 1)), (ms(2023, 12, 31), ms(2024, 1, 1))]:
        assert count_opens(start, end, timeframe) == len(candle_opens(start, end, timeframe))
    assert count_opens(ms(2024, 2, 1), ms(2024, 1, 1), "1M") == 0


def test_ensure_utc_takes_naive_as_utc_and_refuses_what_utc_cannot_hold() -> None:
    assert ensure_utc(datetime(2024, 1, 1)) == datetime(2024, 1, 1, tzinfo=UTC)
    plus_two = datetime(2024, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert ensure_utc(plus_two) == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    plus_four = timezone(timedelta(hours=4))
    with pytest.raises(ValueError, match="outside the years"):
        ensure_utc(datetime(1, 1, 1, 0, 1, tzinfo=plus_four))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        (90, 90),
        (2.5, 2.5),
        ("90s", 90),
        ("10m", 600),
        (" 12h ", 43_200),
        ("7d", 604_800),
        ("2w", 1_209_600),
        ("1.5h", 5_400),
        ("0", 0),
    ],
)
def test_durations_are_read_in_seconds_minutes_hours_days_and_weeks(
    text: str | float, seconds: float
) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text", ["", "7 days", "1M", "12H", "-5m", "m", "1e3", "nan", True, float("inf")]
)
def test_anything_else_is_not_a_duration(text: str | float) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
