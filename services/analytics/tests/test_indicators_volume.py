"""Volume kernel: sums, averages and ratios by hand and by loops (tolerance 1e-9)."""

from __future__ import annotations

import numpy as np
import pytest
from petrosa_analytics.indicators import Bars, InsufficientData, volume

from .test_indicators_reference import MINUTE, T0, approx, ema, make_bars, median, wave


def _bars(volumes: list[float], taker: list[float], quote: list[float]) -> Bars:
    n = len(volumes)
    prices = np.full(n, 10.0)
    return Bars(
        open_time=T0 + np.arange(n, dtype=np.int64) * MINUTE,
        open=prices,
        high=prices * 1.01,
        low=prices * 0.99,
        close=prices,
        volume=np.array(volumes),
        quote_volume=np.array(quote),
        taker_buy_base_volume=np.array(taker),
        trades_count=np.ones(n),
    )


def test_volume_metrics_by_hand() -> None:
    bars = _bars(
        volumes=[100.0, 1.0, 2.0, 3.0, 8.0],
        taker=[50.0, 1.0, 0.5, 2.0, 6.0],
        quote=[1000.0, 10.0, 21.0, 30.0, 84.0],
    )
    result = volume(bars, window=4)  # the last 4 bars: volumes 1, 2, 3, 8
    assert result["total_volume"] == 14.0
    assert result["total_quote_volume"] == 145.0
    assert result["volume_sma"] == approx(3.5)
    # taker sells = volume - taker buys; delta = (1-0) + (0.5-1.5) + (2-1) + (6-2) = 5
    assert result["volume_delta"] == 5.0
    assert result["buy_ratio"] == approx(9.5 / 14)
    assert result["volume_spike_ratio"] == approx(8 / 2.5)  # median of 1, 2, 3, 8
    assert result["vwap"] == approx(145 / 14)
    # EMA(4) over the whole series: seed mean(100, 1, 2, 3) = 26.5, then 0.4*8 + 0.6*26.5
    assert result["volume_ema"] == approx(0.4 * 8 + 0.6 * 26.5)


def test_volume_ema_runs_over_the_whole_series() -> None:
    bars = make_bars(wave(50))
    result = volume(bars, window=10)
    volumes = bars.volume.tolist()
    assert result["volume_ema"] == approx(ema(volumes, 10))
    last = volumes[-10:]
    assert result["volume_sma"] == approx(sum(last) / 10)
    assert result["volume_spike_ratio"] == approx(last[-1] / median(last))


def test_no_volume_gives_none_for_the_ratios() -> None:
    bars = _bars(volumes=[0.0] * 4, taker=[0.0] * 4, quote=[0.0] * 4)
    result = volume(bars, window=3)
    assert result["total_volume"] == 0.0
    assert result["volume_delta"] == 0.0
    assert result["buy_ratio"] is None
    assert result["volume_spike_ratio"] is None
    assert result["vwap"] is None


def test_a_zero_median_gives_no_spike_ratio_even_with_a_spike() -> None:
    bars = _bars(volumes=[0.0, 0.0, 5.0], taker=[0.0, 0.0, 1.0], quote=[0.0, 0.0, 50.0])
    assert volume(bars, window=3)["volume_spike_ratio"] is None


def test_too_few_bars_are_insufficient() -> None:
    with pytest.raises(InsufficientData):
        volume(make_bars(wave(1)), window=2)
