"""The arithmetic of a market page: data_completeness on Binance's grid, and its total."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from petrosa_common.time import candle_opens, to_epoch_ms
from petrosa_common.timeframes import TIMEFRAME_SECONDS, timeframe_ms
from petrosa_gateway.queries.market import settled_total
from petrosa_gateway.queries.market_completeness import (
    completeness_share,
    expected_candles,
    range_completeness,
    span_completeness,
)

MINUTE = 60_000
T0_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z, a Monday


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return to_epoch_ms(datetime(year, month, day, hour, minute, second, tzinfo=UTC))


@pytest.mark.parametrize("timeframe", list(TIMEFRAME_SECONDS))
def test_expected_candles_agrees_with_the_grid_of_petrosa_common_time(timeframe: str) -> None:
    rng = random.Random(timeframe)
    length = timeframe_ms(timeframe)
    for _ in range(200):
        start = rng.randrange(0, 4_000_000_000_000)
        end = start + rng.randrange(0, 40 * length)
        assert expected_candles(start, end, timeframe) == len(candle_opens(start, end, timeframe))


def test_expected_candles_follow_mondays_and_calendar_months() -> None:
    # 2024-01-01 is a Monday: the weekly candle opens on it, not on an epoch-aligned Thursday.
    assert expected_candles(ms(2024, 1, 1), ms(2024, 1, 8), "1w") == 1
    assert expected_candles(ms(2024, 1, 2), ms(2024, 1, 8), "1w") == 0
    assert expected_candles(ms(2024, 1, 1), ms(2025, 1, 1), "1M") == 12
    assert expected_candles(ms(2024, 1, 15), ms(2024, 3, 1), "1M") == 1  # February only
    assert expected_candles(ms(2024, 2, 1), ms(2024, 3, 1), "1d") == 29  # leap year


def test_expected_candles_count_1970_to_9999_without_listing_them() -> None:
    last = ms(9999, 12, 31, 23, 59, 59)
    assert expected_candles(0, last, "1M") == (9999 - 1970) * 12 + 12
    assert expected_candles(0, last, "1m") == last // MINUTE + 1
    assert expected_candles(ms(9999, 12, 1), last, "1M") == 1


def test_expected_candles_of_an_empty_or_reversed_range_is_zero() -> None:
    assert expected_candles(T0_MS, T0_MS, "1m") == 0
    assert expected_candles(T0_MS + MINUTE, T0_MS, "1m") == 0


def test_share_is_capped_at_one_and_one_when_nothing_was_expected() -> None:
    assert completeness_share(stored=3, expected=4) == 0.75
    assert completeness_share(stored=5, expected=4) == 1.0
    assert completeness_share(stored=0, expected=0) == 1.0
    assert completeness_share(stored=0, expected=4) == 0.0
    with pytest.raises(ValueError, match="negative"):
        completeness_share(stored=-1, expected=4)


def test_range_completeness_counts_the_candles_opening_in_start_end() -> None:
    two_hours = T0_MS + 120 * MINUTE
    assert range_completeness(start_ms=T0_MS, end_ms=two_hours, timeframe="1m", stored=119) == (
        119 / 120
    )
    assert range_completeness(start_ms=T0_MS, end_ms=two_hours, timeframe="1h", stored=1) == 0.5


def test_span_completeness_measures_the_grid_between_the_oldest_and_newest_candle() -> None:
    opens = [T0_MS + i * MINUTE for i in range(10) if i != 4]
    assert span_completeness(opens, "1m") == 9 / 10
    assert span_completeness(reversed(opens), "1m") == 9 / 10
    assert span_completeness([T0_MS], "1m") == 1.0


def test_span_completeness_ignores_documents_off_the_grid() -> None:
    opens = [T0_MS, T0_MS + 30_000, T0_MS + 2 * MINUTE]
    assert span_completeness(opens, "1m") == 2 / 3
    assert span_completeness([T0_MS + 30_000], "1m") == 0.0
    assert span_completeness([], "1m") == 0.0


def test_span_completeness_of_the_last_month_of_9999() -> None:
    assert span_completeness([ms(9999, 11, 1), ms(9999, 12, 1)], "1M") == 1.0


@pytest.mark.parametrize(
    ("counted", "offset", "limit", "read", "total"),
    [
        (120, 0, 100, 100, 120),  # a full page: the database's count
        (121, 100, 100, 20, 120),  # the last page is exact, whatever was counted
        (121, 0, 100, 0, 0),  # nothing dated stored
        (121, 500, 100, 0, 121),  # past the end: at most the offset
        (90, 500, 100, 0, 90),
        (50, 100, 100, 100, 200),  # a lagging estimate never undercounts what was read
    ],
)
def test_settled_total(counted: int, offset: int, limit: int, read: int, total: int) -> None:
    assert settled_total(counted=counted, offset=offset, limit=limit, read=read) == total
