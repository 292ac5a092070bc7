"""Timeframe arithmetic and collection naming."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from petrosa_common.naming import DatasetKind, SeriesName, collection_name, parse_collection_name
from petrosa_common.timeframes import (
    UnknownTimeframeError,
    datetime_to_ms,
    ensure_utc,
    floor_time,
    ms_to_datetime,
    next_open,
    seconds_to_timeframe,
    timeframe_ms,
    timeframe_seconds,
)


@pytest.mark.parametrize(
    ("tf", "seconds"),
    [
        ("1m", 60),
        ("5m", 300),
        ("15m", 900),
        ("1h", 3600),
        ("4h", 14400),
        ("1d", 86400),
        ("1w", 604800),
        ("1M", 2592000),
    ],
)
def test_timeframe_lengths_round_trip(tf: str, seconds: int) -> None:
    assert timeframe_seconds(tf) == seconds
    assert timeframe_ms(tf) == seconds * 1000
    assert seconds_to_timeframe(seconds) == tf


def test_unknown_timeframe_is_a_clear_error() -> None:
    with pytest.raises(UnknownTimeframeError, match="7m"):
        timeframe_seconds("7m")


def test_floor_and_next_open() -> None:
    moment = datetime(2024, 3, 15, 13, 47, 12, tzinfo=UTC)
    assert floor_time(moment, "1m") == datetime(2024, 3, 15, 13, 47, tzinfo=UTC)
    assert floor_time(moment, "4h") == datetime(2024, 3, 15, 12, 0, tzinfo=UTC)
    assert floor_time(moment, "1d") == datetime(2024, 3, 15, tzinfo=UTC)
    assert floor_time(moment, "1w") == datetime(2024, 3, 11, tzinfo=UTC)  # a Monday
    assert floor_time(moment, "1M") == datetime(2024, 3, 1, tzinfo=UTC)
    assert next_open(moment, "1M") == datetime(2024, 4, 1, tzinfo=UTC)
    assert next_open(datetime(2024, 12, 9, tzinfo=UTC), "1M") == datetime(2025, 1, 1, tzinfo=UTC)
    assert next_open(moment, "1h") == datetime(2024, 3, 15, 14, 0, tzinfo=UTC)


def test_times_are_utc_aware_and_naive_means_utc() -> None:
    naive = datetime(2024, 1, 1, 12, 0)
    assert ensure_utc(naive) == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    plus_two = datetime(2024, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert ensure_utc(plus_two) == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    assert ms_to_datetime(1_700_000_000_123).tzinfo is UTC
    assert datetime_to_ms(ms_to_datetime(1_700_000_000_123)) == 1_700_000_000_123


def test_collection_names_round_trip() -> None:
    assert collection_name(DatasetKind.CANDLES, "BTCUSDT", "1m") == "candles_BTCUSDT_1m"
    assert collection_name(DatasetKind.AGG_TRADES, "ETHUSDT") == "agg_trades_ETHUSDT"
    for kind in DatasetKind:
        tf = "15m" if kind is DatasetKind.CANDLES else None
        name = collection_name(kind, "SOLUSDT", tf)
        assert parse_collection_name(name) == SeriesName(kind, "SOLUSDT", tf)


@pytest.mark.parametrize(
    "name", ["dead_letters", "candles_BTCUSDT", "candles_BTCUSDT_7m", "trades_btc", "x"]
)
def test_non_series_collections_are_not_parsed(name: str) -> None:
    assert parse_collection_name(name) is None


def test_candles_need_a_timeframe() -> None:
    with pytest.raises(ValueError, match="timeframe"):
        collection_name(DatasetKind.CANDLES, "BTCUSDT")
