"""Bars: the candle input, its invariants, and its refusal of data no metric may use."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from petrosa_analytics.indicators import BadData, Bars, InsufficientData

from .test_indicators_reference import MINUTE, T0, make_bars, wave


def _frame(n: int = 5) -> pl.DataFrame:
    bars = make_bars(wave(n))
    return pl.DataFrame(
        {
            "open_time": [datetime.fromtimestamp(t / 1000, tz=UTC) for t in bars.open_time],
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": bars.close,
            "volume": bars.volume,
            "quote_volume": bars.quote_volume,
            "taker_buy_base_volume": bars.taker_buy_base_volume,
            "trades_count": bars.trades_count,
        },
        schema_overrides={"open_time": pl.Datetime("ms", "UTC")},
    )


def test_from_a_frame_with_utc_datetimes_or_integer_milliseconds() -> None:
    frame = _frame()
    bars = Bars.from_frame(frame)
    assert len(bars) == 5
    assert bars.open_time.tolist() == [T0 + i * MINUTE for i in range(5)]
    assert bars.open_time.dtype == np.int64
    assert bars.close.tolist() == frame["close"].to_list()
    as_ints = frame.with_columns(pl.Series("open_time", [T0 + i * MINUTE for i in range(5)]))
    assert Bars.from_frame(as_ints).open_time.tolist() == bars.open_time.tolist()
    microseconds = frame.with_columns(pl.col("open_time").cast(pl.Datetime("us", "UTC")))
    assert Bars.from_frame(microseconds).open_time.tolist() == bars.open_time.tolist()


def test_frames_with_holes_or_naive_times_are_refused() -> None:
    frame = _frame()
    with pytest.raises(BadData, match="lacks columns trades_count"):
        Bars.from_frame(frame.drop("trades_count"))
    holed = frame.with_columns(pl.when(pl.col("close") > 0).then(None).alias("close"))
    with pytest.raises(BadData, match="nulls in close"):
        Bars.from_frame(holed)
    with pytest.raises(BadData, match="naive"):
        Bars.from_frame(frame.with_columns(pl.col("open_time").dt.replace_time_zone(None)))
    with pytest.raises(BadData, match="Datetime or integer"):
        Bars.from_frame(frame.with_columns(pl.lit("x").alias("open_time")))


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("close", 0.0, "non-positive"),
        ("low", -1.0, "non-positive"),
        ("high", float("inf"), "non-finite"),
        ("open", float("nan"), "non-finite"),
        ("volume", -1.0, "negative"),
        ("trades_count", float("nan"), "non-finite"),
    ],
)
def test_bad_values_are_refused(column: str, value: float, reason: str) -> None:
    bars = make_bars(wave(5))
    values = getattr(bars, column).copy()
    values[2] = value
    with pytest.raises(BadData, match=reason):
        replace(bars, **{column: values})


def test_inconsistent_candles_are_refused() -> None:
    bars = make_bars(wave(5))
    high = bars.high.copy()
    high[1] = bars.close[1] * 0.999  # below the close
    with pytest.raises(BadData, match="enclose"):
        replace(bars, high=high)
    taker = bars.volume.copy()
    taker[0] += 1.0
    with pytest.raises(BadData, match="exceeds volume"):
        replace(bars, taker_buy_base_volume=taker)


def test_times_must_strictly_increase() -> None:
    bars = make_bars(wave(5))
    times = bars.open_time.copy()
    times[3] = times[2]
    with pytest.raises(BadData, match="strictly increasing"):
        replace(bars, open_time=times)
    with pytest.raises(BadData, match="shape"):
        replace(bars, close=bars.close[:-1])


def test_columns_cannot_change_under_a_kernel() -> None:
    closes = np.array(wave(5))
    bars = replace(make_bars(wave(5)), close=closes)
    closes[0] = 1.0  # the caller's array: Bars holds a copy
    assert bars.close[0] != 1.0
    with pytest.raises(ValueError, match="read-only"):
        bars.close[0] = 1.0


def test_tail_is_lenient_and_window_is_strict() -> None:
    bars = make_bars(wave(5))
    assert bars.tail(3).close.tolist() == bars.close.tolist()[-3:]
    assert len(bars.tail(10)) == 5
    assert len(bars.tail(0)) == 0
    assert bars.window(5).close.tolist() == bars.close.tolist()
    with pytest.raises(InsufficientData, match="needs 6 bars, got 5"):
        bars.window(6)
    with pytest.raises(InsufficientData):
        make_bars(wave(1)).window(2)
    with pytest.raises(ValueError, match="at least 2"):
        bars.window(1)
