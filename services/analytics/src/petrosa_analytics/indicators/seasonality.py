"""Seasonality of one series over all the bars passed (the caller picks the span).

Returns ``r_i = ln(C_i / C_{i-1})`` between adjacent bars only (see :mod:`.returns`); a bar's
return belongs to that bar (the one it ends at). Hours and weekdays are UTC, of open times.

* hourly_pattern["0".."23"] / daily_pattern["0".."6"] (Monday = 0): ``mean_return`` (mean
  per-bar log return of that hour's bars, ``None`` without one), ``mean_volume`` (mean base
  volume, ``None`` without a bar) and ``bars`` (count).
* dominant_cycle: period, in bars, of the strongest periodic component of the returns. The
  returns are laid on the regular bar grid from the first to the last open time (``M``
  slots), demeaned, and slots without a return (a gap, or the first bar) hold 0 (the mean).
  The power ``|X_k|^2`` of the real FFT is searched over ``k = 2 .. M // 2`` (at least two
  full cycles seen, period at least 2 bars); the peak's ``M / k`` is reported, ties going to
  the longer period. ``None`` below 4 slots, when fewer than half the slots hold a return,
  or when the returns have no variance.
* dominant_cycle_strength: the peak's share of all non-constant power (``k = 1 .. M // 2``),
  in [0, 1]: near ``2 / M`` for noise, near 1 for a pure cycle.
* entropy_index: normalised permutation entropy (Bandt-Pompe, order 3) of the closes: each
  run of three adjacent bars is labelled by the order of its closes (equal closes rank in
  time order), and the Shannon entropy of the labels' frequencies is divided by ``ln 3!``.
  1: every ordering equally likely (no exploitable pattern); 0: one ordering only (a flat or
  monotone market). ``None`` without a run of three adjacent bars.
* seasonal_deviation: coefficient of variation of the hourly mean volumes (population
  standard deviation over the hours that have bars / their mean): 0 when volume is the same
  at every hour, 0.35 when hours typically differ from the daily average by 35 %. ``None``
  with fewer than two hours seen or no volume.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from petrosa_analytics.indicators.bars import Bars
from petrosa_analytics.indicators.errors import InsufficientData
from petrosa_analytics.indicators.returns import adjacent, grid_positions, log_returns, step_ms
from petrosa_analytics.indicators.values import number

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)
_ORDER = 3
_LN_ORDER_FACTORIAL = math.log(math.factorial(_ORDER))


def hour_of_day(open_time: NDArray[np.int64]) -> NDArray[np.int64]:
    """UTC hour (0-23) of each open time."""
    return (open_time // HOUR_MS) % 24


def day_of_week(open_time: NDArray[np.int64]) -> NDArray[np.int64]:
    """UTC weekday of each open time, Monday = 0."""
    return (open_time // DAY_MS + _EPOCH_WEEKDAY) % 7


def pattern(
    groups: NDArray[np.int64],
    size: int,
    returns: NDArray[np.float64],
    volume: NDArray[np.float64],
) -> dict[str, dict[str, Any]]:
    """Per group ``0..size-1``: mean return (``returns[i - 1]`` is bar ``i``'s), mean volume
    and bar count."""
    bars = np.bincount(groups, minlength=size)
    volume_sum = np.bincount(groups, weights=volume, minlength=size)
    kept = np.isfinite(returns)
    return_groups = groups[1:][kept]
    return_sum = np.bincount(return_groups, weights=returns[kept], minlength=size)
    return_count = np.bincount(return_groups, minlength=size)
    return {
        str(group): {
            "mean_return": float(return_sum[group] / return_count[group])
            if return_count[group]
            else None,
            "mean_volume": float(volume_sum[group] / bars[group]) if bars[group] else None,
            "bars": int(bars[group]),
        }
        for group in range(size)
    }


def dominant_cycle(
    returns: NDArray[np.float64], open_time: NDArray[np.int64], step: int
) -> tuple[float, float] | None:
    """Period (bars) of the strongest FFT component of the gridded returns and its share
    of the power (module docstring); ``None`` when it cannot be told."""
    positions = grid_positions(open_time, step)
    slots = int(positions[-1])
    kept = np.isfinite(returns)
    used = int(np.count_nonzero(kept))
    if slots < 4 or 2 * used < slots or not bool(np.all(np.diff(positions) > 0)):
        return None
    series = np.zeros(slots, dtype=np.float64)
    series[positions[1:][kept] - 1] = returns[kept] - np.mean(returns[kept])
    power = np.abs(np.fft.rfft(series)) ** 2
    candidates = power[2 : slots // 2 + 1]
    total = float(np.sum(power[1 : slots // 2 + 1]))
    if total == 0 or not bool(np.any(candidates > 0)):
        return None
    peak = int(np.argmax(candidates)) + 2
    return slots / peak, float(power[peak]) / total


def permutation_entropy(close: NDArray[np.float64], linked: NDArray[np.bool_]) -> float | None:
    """Normalised order-3 permutation entropy over runs of three adjacent bars."""
    starts = np.flatnonzero(linked[:-1] & linked[1:])
    if starts.shape[0] == 0:
        return None
    runs = np.stack([close[starts], close[starts + 1], close[starts + 2]], axis=1)
    order = np.argsort(runs, axis=1, kind="stable")
    codes = order[:, 0] * 9 + order[:, 1] * 3 + order[:, 2]
    counts = np.bincount(codes, minlength=27)
    shares = counts[counts > 0] / starts.shape[0]
    # abs(): a single ordering gives -0.0.
    return abs(float(-np.sum(shares * np.log(shares)) / _LN_ORDER_FACTORIAL))


def seasonal_deviation(hourly: dict[str, dict[str, Any]]) -> float | None:
    """Population coefficient of variation of the hours' mean volumes."""
    means = np.array(
        [group["mean_volume"] for group in hourly.values() if group["mean_volume"] is not None]
    )
    if means.shape[0] < 2 or float(np.mean(means)) == 0:
        return None
    return number(np.std(means) / np.mean(means))


def seasonality(bars: Bars, *, timeframe: str | None = None) -> dict[str, Any]:
    """Seasonality of all ``bars`` (module docstring); ``timeframe`` sets the bar spacing for
    gaps and the grid (default: the smallest spacing of ``bars``).

    Keys: hourly_pattern, daily_pattern, dominant_cycle, dominant_cycle_strength,
    entropy_index, seasonal_deviation, bars, returns_used. Raises InsufficientData below
    2 bars.
    """
    if len(bars) < 2:
        raise InsufficientData(f"seasonality needs at least 2 bars, got {len(bars)}")
    step = step_ms(bars.open_time, timeframe)
    returns = log_returns(bars.open_time, bars.close, step)
    hourly = pattern(hour_of_day(bars.open_time), 24, returns, bars.volume)
    cycle = dominant_cycle(returns, bars.open_time, step)
    return {
        "hourly_pattern": hourly,
        "daily_pattern": pattern(day_of_week(bars.open_time), 7, returns, bars.volume),
        "dominant_cycle": None if cycle is None else cycle[0],
        "dominant_cycle_strength": None if cycle is None else cycle[1],
        "entropy_index": permutation_entropy(bars.close, adjacent(bars.open_time, step)),
        "seasonal_deviation": seasonal_deviation(hourly),
        "bars": len(bars),
        "returns_used": int(np.count_nonzero(np.isfinite(returns))),
    }


__all__ = [
    "day_of_week",
    "dominant_cycle",
    "hour_of_day",
    "pattern",
    "permutation_entropy",
    "seasonal_deviation",
    "seasonality",
]
