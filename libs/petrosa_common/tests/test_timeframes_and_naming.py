"""Timeframe arithmetic and collection naming."""

from __future__ import annotations

import pytest
from petrosa_common.naming import DatasetKind, SeriesName, collection_name, parse_collection_name
from petrosa_common.timeframes import (
    UnknownTimeframeError,
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
