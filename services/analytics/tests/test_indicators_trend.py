"""Trend kernel: TA-Lib's definitions reproduced by loops, crossovers by hand (1e-9)."""

from __future__ import annotations

import json
import math

import pytest
from petrosa_analytics.indicators import InsufficientData, trend

from .test_indicators_reference import (
    MINUTE,
    T0,
    approx,
    ema,
    flat_bars,
    linreg_slope,
    make_bars,
    pearson,
    roc,
    sma,
    wave,
    wilder_dmi,
    wilder_rsi,
    wma,
)

WINDOW = 20


def test_every_indicator_matches_its_definition() -> None:
    bars = make_bars(wave(90))
    result = trend(bars, window=WINDOW, fast=5, slow=12, di_period=14, rsi_period=14)
    closes = bars.close.tolist()
    window = closes[-WINDOW:]
    assert result["sma"] == approx(sma(closes, WINDOW))
    assert result["ema"] == approx(ema(closes, WINDOW))
    assert result["wma"] == approx(wma(closes, WINDOW))
    assert result["rate_of_change"] == approx((window[-1] / window[0] - 1) * 100)
    assert result["rate_of_change"] == approx(roc(closes, WINDOW - 1))
    assert result["regression_slope"] == approx(linreg_slope(window))
    assert result["r_squared"] == approx(pearson(list(range(WINDOW)), window) ** 2)
    plus_di, minus_di, adx = wilder_dmi(bars.high.tolist(), bars.low.tolist(), closes, 14)
    assert result["plus_di"] == approx(plus_di)
    assert result["minus_di"] == approx(minus_di)
    assert result["adx"] == approx(adx)
    assert result["rsi"] == approx(wilder_rsi(closes, 14))
    assert result["fast_sma"] == approx(sma(closes, 5))
    assert result["slow_sma"] == approx(sma(closes, 12))
    opens = bars.open.tolist()[-WINDOW:]
    up = sum(c > o for o, c in zip(opens, window, strict=True))
    down = sum(c < o for o, c in zip(opens, window, strict=True))
    assert result["directional_strength"] == approx(100 * up / (up + down))


def test_di_period_is_configurable() -> None:
    bars = make_bars(wave(60))
    result = trend(bars, window=WINDOW, di_period=7)
    plus_di, minus_di, adx = wilder_dmi(
        bars.high.tolist(), bars.low.tolist(), bars.close.tolist(), 7
    )
    assert (result["plus_di"], result["minus_di"], result["adx"]) == (
        approx(plus_di),
        approx(minus_di),
        approx(adx),
    )


# SMA(2) - SMA(4) of these closes: bar 3: 0, bar 4: -0.25, ..., bar 7: -0.5, bar 8: +0.75,
# bar 9: +2, bar 10: +2.5, bar 11: +2.25. First strict side at bar 4 (below): the fast SMA
# first stands above the slow one at bar 8 -> a bullish cross at bar 8.
CROSSING = [5.0, 5.0, 5.0, 5.0, 4.0, 3.0, 2.0, 3.0, 5.0, 8.0, 10.0, 12.0]


def test_a_bullish_crossover_is_found_with_its_bar_and_age() -> None:
    diffs = [sma(CROSSING[: i + 1], 2) - sma(CROSSING[: i + 1], 4) for i in range(3, 12)]
    assert diffs == [0.0, -0.25, -0.75, -1.0, -0.5, 0.75, 2.0, 2.5, 2.25]
    result = trend(make_bars(CROSSING), window=4, fast=2, slow=4)
    assert result["crossover_signal"] == "bullish"
    assert result["crossover_time"] == "2024-01-01T00:08:00+00:00"
    assert result["crossover_bars_ago"] == 3


def test_a_crossover_before_the_window_is_not_reported() -> None:
    result = trend(make_bars(CROSSING), window=3, fast=2, slow=4)
    assert result["crossover_signal"] is None
    assert result["crossover_time"] is None
    assert result["crossover_bars_ago"] is None


def test_a_bearish_crossover() -> None:
    falling = [20.0 - c for c in CROSSING]  # mirrored: fast falls through slow at bar 8
    result = trend(make_bars(falling), window=12, fast=2, slow=4)
    assert result["crossover_signal"] == "bearish"
    assert result["crossover_bars_ago"] == 3


def test_touching_without_crossing_is_no_crossover() -> None:
    # SMA(2) - SMA(4) = (c[i] + c[i-1] - c[i-2] - c[i-3]) / 4: bar 3: -0.5, bar 4: 0 (a touch),
    # bar 5: -0.25 -> the fast SMA never stands above the slow one.
    closes = [5.0, 5.0, 4.0, 4.0, 5.0, 2.0]
    diffs = [sma(closes[: i + 1], 2) - sma(closes[: i + 1], 4) for i in range(3, 6)]
    assert diffs == [-0.5, 0.0, -0.25]
    result = trend(make_bars(closes), window=6, fast=2, slow=4)
    assert result["crossover_signal"] is None


def test_the_latest_of_several_crossovers_wins_at_its_first_bar_past_a_touch() -> None:
    closes = [*CROSSING, 6.0, 2.0, 1.0]
    diffs = [sma(closes[: i + 1], 2) - sma(closes[: i + 1], 4) for i in range(len(closes))]
    # bar 11: +2.25 (above), bar 12: 0 (touch: still above), bar 13: -3.5 (below)
    assert diffs[11:14] == [2.25, 0.0, -3.5]
    result = trend(make_bars(closes), window=len(closes), fast=2, slow=4)
    assert result["crossover_signal"] == "bearish"
    assert result["crossover_bars_ago"] == 1
    assert result["crossover_time"] == "2024-01-01T00:13:00+00:00"


def test_a_flat_market() -> None:
    result = trend(flat_bars(60), window=WINDOW)
    assert result["regression_slope"] == 0.0
    assert result["rate_of_change"] == 0.0
    assert result["r_squared"] is None
    assert result["rsi"] is None
    assert result["directional_strength"] is None
    assert result["crossover_signal"] is None
    assert result["adx"] == 0.0
    assert result["sma"] == approx(100.1)
    json.dumps(result, allow_nan=False)


def test_indicators_without_enough_warm_up_are_none() -> None:
    result = trend(make_bars(wave(20)), window=20)  # ADX(14) needs 28 bars, slow SMA 50
    assert result["adx"] is None
    assert result["slow_sma"] is None
    assert result["crossover_signal"] is None
    assert result["plus_di"] is not None
    assert result["sma"] is not None
    json.dumps(result, allow_nan=False)


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="fast < slow"):
        trend(make_bars(wave(60)), window=WINDOW, fast=50, slow=20)
    with pytest.raises(ValueError, match="periods"):
        trend(make_bars(wave(60)), window=WINDOW, di_period=1)
    with pytest.raises(InsufficientData):
        trend(make_bars(wave(1)), window=2)


def test_rate_of_change_is_percent_over_the_window() -> None:
    closes = [100.0, 100.0, 101.0, 102.0, 110.0]
    result = trend(make_bars(closes), window=3, fast=2, slow=3)
    assert result["rate_of_change"] == approx((110 / 101 - 1) * 100)
    assert math.isfinite(result["ema"])
    assert result["crossover_time"] is None or result["crossover_time"].endswith("+00:00")
    assert T0 % MINUTE == 0
