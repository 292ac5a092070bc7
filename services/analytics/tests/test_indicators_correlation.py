"""Correlation kernel: log returns on common open times, by loops (tolerance 1e-9)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import pytest
from petrosa_analytics.indicators import BadData, InsufficientData, correlation

from .test_indicators_reference import MINUTE, T0, approx, pearson, wave

Series = tuple[list[int], list[float]]


def _series(closes: Sequence[float], missing: Sequence[int] = ()) -> Series:
    times = [T0 + i * MINUTE for i in range(len(closes)) if i not in missing]
    return times, [c for i, c in enumerate(closes) if i not in missing]


def _grid_returns(series: dict[str, Series], window: int) -> dict[str, dict[int, float]]:
    """Per symbol: open time -> return from the previous common time, adjacent pairs only."""
    common = sorted(set.intersection(*(set(t) for t, _ in series.values())))[-window:]
    out: dict[str, dict[int, float]] = {}
    for symbol, (times, closes) in series.items():
        price = dict(zip(times, closes, strict=True))
        out[symbol] = {
            t: math.log(price[t] / price[prev])
            for prev, t in pairwise(common)
            if t - prev == MINUTE
        }
    return out


def _ranks(xs: Sequence[float]) -> list[float]:
    return [sum(1 for y in xs if y < x) + (sum(1 for y in xs if y == x) + 1) / 2 for x in xs]


def _lead_lag(a: dict[int, float], b: dict[int, float], max_lag: int) -> tuple[int, float]:
    best: tuple[int, float] | None = None
    for lag in sorted(range(-max_lag, max_lag + 1), key=lambda x: (abs(x), x)):
        pairs = [(a[t], b[t + lag * MINUTE]) for t in a if t + lag * MINUTE in b]
        value = pearson([x for x, _ in pairs], [y for _, y in pairs])
        if best is None or abs(value) > abs(best[1]):
            best = (lag, value)
    assert best is not None
    return best


def _closes(returns: Sequence[float]) -> list[float]:
    out = [100.0]
    for r in returns:
        out.append(out[-1] * math.exp(r))
    return out


BASE = [r / 50 for r in np.diff(np.log(wave(41, seed=0.3))).tolist()]
SERIES = {
    "BTCUSDT": _series(_closes(BASE)),
    # ETH follows BTC two bars later, with its own noise; one candle missing.
    "ETHUSDT": _series(
        _closes([0.0, 0.0] + [b + 0.3 * n for b, n in zip(BASE[:-2], BASE[::-1], strict=False)]),
        missing=(17,),
    ),
    "SOLUSDT": _series(wave(41, seed=2.0)),
}


def test_matrices_of_log_returns_on_the_common_grid() -> None:
    result = correlation(SERIES, window=41, max_lag=3, rolling_window=10)
    grid = _grid_returns(SERIES, 41)
    times = sorted(grid["BTCUSDT"])
    assert result["observations"] == len(times) == 38  # 40 returns, 2 touch the missing bar
    assert result["symbols"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    for a in SERIES:
        for b in SERIES:
            ra, rb = [grid[a][t] for t in times], [grid[b][t] for t in times]
            assert result["correlation_matrix"][a][b] == approx(pearson(ra, rb)), (a, b)
            assert result["spearman_matrix"][a][b] == approx(pearson(_ranks(ra), _ranks(rb)))
    assert list(result["correlation_matrix"]) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert list(result["correlation_matrix"]["SOLUSDT"]) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_rolling_correlation_over_the_latest_returns() -> None:
    result = correlation(SERIES, window=41, rolling_window=10)
    grid = _grid_returns(SERIES, 41)
    times = sorted(grid["BTCUSDT"])[-10:]
    assert result["rolling_window"] == 10
    assert set(result["rolling_correlation"]) == {
        "BTCUSDT/ETHUSDT",
        "BTCUSDT/SOLUSDT",
        "ETHUSDT/SOLUSDT",
    }
    for pair, value in result["rolling_correlation"].items():
        a, b = pair.split("/")
        expected = pearson([grid[a][t] for t in times], [grid[b][t] for t in times])
        assert value == approx(expected), pair
    assert correlation(SERIES, window=41)["rolling_window"] == 38 // 4


def test_lead_lag_finds_the_follower_two_bars_behind() -> None:
    result = correlation(SERIES, window=41, max_lag=4)
    grid = _grid_returns(SERIES, 41)
    for pair, found in result["lead_lag"].items():
        a, b = pair.split("/")
        lag, value = _lead_lag(grid[a], grid[b], 4)
        assert found == {"lag": lag, "correlation": approx(value)}, pair
    assert result["lead_lag"]["BTCUSDT/ETHUSDT"]["lag"] == 2  # BTC moves first
    assert result["max_lag"] == 4


def test_the_window_is_the_latest_common_open_times() -> None:
    result = correlation(SERIES, window=20, max_lag=2)
    grid = _grid_returns(SERIES, 20)
    times = sorted(grid["BTCUSDT"])
    assert result["observations"] == len(times) == 19
    ra, rb = [grid["BTCUSDT"][t] for t in times], [grid["SOLUSDT"][t] for t in times]
    assert result["correlation_matrix"]["BTCUSDT"]["SOLUSDT"] == approx(pearson(ra, rb))


def test_a_constant_series_has_no_correlation() -> None:
    series = {"A": _series(wave(10)), "B": _series([5.0] * 10)}
    result = correlation(series, window=10, max_lag=1)
    assert result["correlation_matrix"]["A"]["A"] == approx(1.0)
    assert result["correlation_matrix"]["A"]["B"] is None
    assert result["correlation_matrix"]["B"]["B"] is None
    assert result["spearman_matrix"]["B"]["A"] is None
    assert result["rolling_correlation"]["A/B"] is None
    assert result["lead_lag"]["A/B"] == {"lag": None, "correlation": None}
    json.dumps(result, allow_nan=False)


def test_one_symbol_is_a_one_by_one_matrix() -> None:
    result = correlation({"A": _series(wave(10))}, window=10)
    assert result["correlation_matrix"] == {"A": {"A": approx(1.0)}}
    assert result["lead_lag"] == {}


def test_too_few_common_times_are_insufficient() -> None:
    series = {"A": _series(wave(10)), "B": _series(wave(10), missing=range(2, 10))}
    with pytest.raises(InsufficientData):
        correlation(series, window=10)
    gapped = {"A": (([T0 + i * 2 * MINUTE for i in range(6)]), wave(6))}
    with pytest.raises(InsufficientData):
        correlation(gapped, window=10, timeframe="1m")  # no two common times adjacent


def test_bad_series_are_refused() -> None:
    times, closes = _series(wave(10))
    with pytest.raises(BadData, match="positive"):
        correlation({"A": (times, [0.0, *closes[1:]])}, window=10)
    with pytest.raises(BadData, match="increasing"):
        correlation({"A": (times[::-1], closes)}, window=10)
    with pytest.raises(BadData, match="equally long"):
        correlation({"A": (times, closes[:-1])}, window=10)
