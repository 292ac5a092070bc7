"""Seasonality kernel: calendar patterns, FFT cycle, permutation entropy, by loops (1e-9)."""

from __future__ import annotations

import cmath
import json
import math
from collections.abc import Sequence

import numpy as np
import pytest
from petrosa_analytics.indicators import InsufficientData, seasonality

from .test_indicators_reference import MINUTE, T0, approx, flat_bars, make_bars, mean, wave

HOUR = 3_600_000


def _returns(times: Sequence[int], closes: Sequence[float], step: int) -> list[float | None]:
    """Return of each bar from the previous one (None for the first and across a gap)."""
    return [None] + [
        math.log(closes[i] / closes[i - 1]) if times[i] - times[i - 1] == step else None
        for i in range(1, len(closes))
    ]


def _power_peak(times: Sequence[int], closes: Sequence[float], step: int) -> tuple[float, float]:
    """Naive DFT of the demeaned gridded returns: (M / k of the peak, its power share)."""
    returns = _returns(times, closes, step)
    kept = [r for r in returns if r is not None]
    centre = mean(kept)
    slots = (times[-1] - times[0]) // step
    series = [0.0] * slots
    for t, r in zip(times, returns, strict=True):
        if r is not None:
            series[(t - times[0]) // step - 1] = r - centre
    power = [
        abs(sum(x * cmath.exp(-2j * math.pi * k * s / slots) for s, x in enumerate(series))) ** 2
        for k in range(slots // 2 + 1)
    ]
    peak = max(range(2, slots // 2 + 1), key=lambda k: (power[k], -k))
    return slots / peak, power[peak] / sum(power[1:])


def test_hourly_and_daily_patterns_by_loop() -> None:
    closes = wave(48, seed=0.4)
    bars = make_bars(closes, step=HOUR)  # two days of hourly bars from Monday 00:00
    result = seasonality(bars)
    returns = _returns(bars.open_time.tolist(), closes, HOUR)
    volumes = bars.volume.tolist()
    for hour in range(24):
        members = [hour, hour + 24]
        kept = [r for r in (returns[i] for i in members) if r is not None]
        assert result["hourly_pattern"][str(hour)] == {
            "mean_return": approx(mean(kept)),
            "mean_volume": approx(mean([volumes[i] for i in members])),
            "bars": 2,
        }
    monday = [r for r in returns[:24] if r is not None]
    assert result["daily_pattern"]["0"] == {
        "mean_return": approx(mean(monday)),
        "mean_volume": approx(mean(volumes[:24])),
        "bars": 24,
    }
    assert result["daily_pattern"]["1"]["bars"] == 24
    assert result["daily_pattern"]["6"] == {"mean_return": None, "mean_volume": None, "bars": 0}
    assert result["bars"] == 48
    assert result["returns_used"] == 47


def test_weekdays_are_utc_with_monday_zero() -> None:
    sunday_2359 = T0 - MINUTE  # 2023-12-31T23:59Z, a Sunday
    bars = make_bars(wave(2), times=[sunday_2359, T0])
    result = seasonality(bars)
    assert result["daily_pattern"]["6"]["bars"] == 1
    assert result["daily_pattern"]["0"]["bars"] == 1
    assert result["hourly_pattern"]["23"]["bars"] == 1
    assert result["hourly_pattern"]["0"]["bars"] == 1


def test_seasonal_deviation_is_the_spread_of_hourly_mean_volumes() -> None:
    bars = make_bars(wave(48), step=HOUR)
    result = seasonality(bars)
    means = [result["hourly_pattern"][str(h)]["mean_volume"] for h in range(24)]
    centre = mean(means)
    std = math.sqrt(sum((m - centre) ** 2 for m in means) / 24)
    assert result["seasonal_deviation"] == approx(std / centre)


def test_a_pure_cycle_is_found_exactly() -> None:
    returns = [0.01 * math.sin(2 * math.pi * i / 8) for i in range(1, 65)]
    closes = [100.0 * math.exp(sum(returns[:i])) for i in range(65)]
    result = seasonality(make_bars(closes))
    assert result["dominant_cycle"] == 8.0
    assert result["dominant_cycle_strength"] == pytest.approx(1.0, abs=1e-9)


def test_dominant_cycle_matches_a_naive_dft_with_a_gap() -> None:
    closes = wave(70, seed=1.0)
    times = [T0 + i * MINUTE for i in range(71) if i != 33]
    result = seasonality(make_bars(closes, times=times))
    cycle, strength = _power_peak(times, closes, MINUTE)
    assert result["dominant_cycle"] == approx(cycle)
    assert result["dominant_cycle_strength"] == approx(strength)


def test_too_sparse_a_grid_has_no_cycle() -> None:
    # Pairs of adjacent 1m bars 5 minutes apart: one return per 5 grid slots.
    times = [T0 + (i // 2) * 5 * MINUTE + (i % 2) * MINUTE for i in range(20)]
    result = seasonality(make_bars(wave(20), times=times), timeframe="1m")
    assert result["returns_used"] == 10
    assert result["dominant_cycle"] is None
    assert result["dominant_cycle_strength"] is None
    assert result["entropy_index"] is None  # no run of three adjacent bars


def test_permutation_entropy_by_hand() -> None:
    # runs (1,3,2), (3,2,4), (2,4,5): three different orderings, each once -> ln 3 / ln 6
    result = seasonality(make_bars([1.0, 3.0, 2.0, 4.0, 5.0]))
    assert result["entropy_index"] == approx(math.log(3) / math.log(6))
    # a monotone market has a single ordering
    assert seasonality(make_bars([1.0, 2.0, 3.0, 4.0]))["entropy_index"] == 0.0


def test_permutation_entropy_counts_only_runs_of_adjacent_bars() -> None:
    closes = [1.0, 3.0, 2.0, 4.0, 5.0, 7.0]
    times = [T0 + i * MINUTE for i in (0, 1, 2, 3, 5, 6)]  # a gap before the fifth bar
    # runs left: (1,3,2) and (3,2,4): two orderings, each once -> ln 2 / ln 6
    result = seasonality(make_bars(closes, times=times))
    assert result["entropy_index"] == approx(math.log(2) / math.log(6))


def test_a_flat_market_has_no_cycle_and_no_entropy() -> None:
    result = seasonality(flat_bars(40))
    assert result["dominant_cycle"] is None
    assert result["entropy_index"] == 0.0
    assert result["hourly_pattern"]["0"]["mean_return"] == 0.0
    json.dumps(result, allow_nan=False)


def test_a_single_bar_is_insufficient() -> None:
    with pytest.raises(InsufficientData):
        seasonality(make_bars(wave(1)))


def test_results_are_json_ready() -> None:
    result = seasonality(make_bars(wave(300)))
    text = json.dumps(result, allow_nan=False)
    assert '"23"' in text
    assert isinstance(result["dominant_cycle"], float)
    assert bool(np.isfinite(result["entropy_index"]))
