"""Deviation kernel: population statistics and Bollinger bands by loops (tolerance 1e-9)."""

from __future__ import annotations

import json
import math
from itertools import pairwise

import pytest
from petrosa_analytics.indicators import InsufficientData, deviation

from .test_indicators_reference import (
    MINUTE,
    T0,
    approx,
    bollinger,
    flat_bars,
    make_bars,
    mean,
    pearson,
    population_variance,
    wave,
)

WINDOW = 20


def test_every_metric_matches_its_definition() -> None:
    bars = make_bars(wave(50))
    result = deviation(bars, window=WINDOW, bands_k=2.0)
    closes = bars.close.tolist()[-WINDOW:]
    variance = population_variance(closes)
    upper, middle, lower = bollinger(closes, WINDOW, 2.0)
    last = closes[-1]
    assert result["variance"] == approx(variance)
    assert result["standard_deviation"] == approx(math.sqrt(variance))
    assert result["z_score"] == approx((last - mean(closes)) / math.sqrt(variance))
    assert result["bollinger_upper"] == approx(upper)
    assert result["bollinger_middle"] == approx(middle)
    assert result["bollinger_lower"] == approx(lower)
    assert result["percent_b"] == approx((last - lower) / (upper - lower))
    low, high = min(bars.low.tolist()[-WINDOW:]), max(bars.high.tolist()[-WINDOW:])
    assert result["price_range_index"] == approx((last - low) / (high - low))
    returns = [math.log(closes[i] / closes[i - 1]) for i in range(1, WINDOW)]
    assert result["autocorrelation"] == approx(pearson(returns[:-1], returns[1:]))


def test_bands_k_widens_the_bands() -> None:
    bars = make_bars(wave(50))
    result = deviation(bars, window=WINDOW, bands_k=3.0)
    upper, _, lower = bollinger(bars.close.tolist(), WINDOW, 3.0)
    assert result["bollinger_upper"] == approx(upper)
    assert result["bollinger_lower"] == approx(lower)


def test_z_score_by_hand() -> None:
    # closes 1, 2, 3, 6: mean 3, population variance (4 + 1 + 0 + 9) / 4 = 3.5
    bars = make_bars([1.0, 2.0, 3.0, 6.0])
    result = deviation(bars, window=4)
    assert result["variance"] == approx(3.5)
    assert result["z_score"] == approx(3 / math.sqrt(3.5))
    assert result["bollinger_upper"] == approx(3 + 2 * math.sqrt(3.5))
    assert result["percent_b"] == approx((6 - (3 - 2 * math.sqrt(3.5))) / (4 * math.sqrt(3.5)))


def test_a_flat_window_has_no_z_score_or_percent_b() -> None:
    result = deviation(flat_bars(30), window=WINDOW)
    assert result["standard_deviation"] == 0.0
    assert result["variance"] == 0.0
    assert result["z_score"] is None
    assert result["percent_b"] is None
    assert result["price_range_index"] is None
    assert result["autocorrelation"] is None
    assert result["bollinger_middle"] == approx(100.1)
    json.dumps(result, allow_nan=False)


def test_autocorrelation_skips_pairs_that_touch_a_gap() -> None:
    closes = wave(21)
    times = [T0 + i * MINUTE for i in range(22) if i != 12]  # candle 12 missing
    bars = make_bars(closes, times=times)
    result = deviation(bars, window=21)
    t, c = bars.open_time.tolist(), bars.close.tolist()
    returns = [
        math.log(c[i] / c[i - 1]) if t[i] - t[i - 1] == MINUTE else None for i in range(1, 21)
    ]
    pairs = [(a, b) for a, b in pairwise(returns) if a is not None and b is not None]
    assert len(pairs) == 17  # 19 consecutive pairs of 20 returns, 2 touch the dropped return
    expected = pearson([a for a, _ in pairs], [b for _, b in pairs])
    assert result["autocorrelation"] == approx(expected)
    # The timeframe may be named instead of inferred from the bars.
    assert deviation(bars, window=21, timeframe="1m")["autocorrelation"] == approx(expected)


def test_too_few_bars_are_insufficient() -> None:
    with pytest.raises(InsufficientData):
        deviation(make_bars(wave(1)), window=2)
    with pytest.raises(ValueError, match="bands_k"):
        deviation(make_bars(wave(30)), window=WINDOW, bands_k=0.0)
