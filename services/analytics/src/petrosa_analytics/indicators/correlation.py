"""Correlation of several series' log returns (never prices) on their common open times.

* Common grid: the open times every series has; the window is its last ``window`` times (all
  of them when there are fewer). A return ``ln(C_t / C_{t'})`` between consecutive common
  times ``t' < t`` is used only when they are adjacent bars (see :mod:`.returns`), for every
  series alike, so all series are observed at the same instants.
* correlation_matrix (Pearson) and spearman_matrix (Pearson of average ranks) of every pair
  of the given symbols, exactly those, keyed ``[a][b]``; ``None`` for a series whose returns
  are all equal (including its diagonal).
* rolling_correlation["A/B"]: Pearson correlation over the most recent ``rolling_window``
  returns (default: a quarter of the window's returns, at least 3); ``None`` with fewer.
* lead_lag["A/B"] = ``{"lag", "correlation"}``: the lag ``l`` in ``[-max_lag, max_lag]`` bars
  with the largest ``|corr(r_A(t), r_B(t + l))|`` (pairs observed at both times); ``l > 0``
  means A moves first. Ties go to the smallest ``|l|``, then the negative one.

Pairs are keyed ``"A/B"`` with A before B in the order given. Raises InsufficientData below 3
returns, BadData for prices that are not finite and positive or times not increasing.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial, reduce
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from petrosa_analytics.indicators.errors import BadData, InsufficientData
from petrosa_analytics.indicators.returns import adjacent, grid_positions, step_ms
from petrosa_analytics.indicators.stats import MIN_PAIRS, pearson
from petrosa_analytics.indicators.values import number

Matrix = dict[str, dict[str, float | None]]


def _series(symbol: str, open_times: ArrayLike, closes: ArrayLike) -> tuple[Any, Any]:
    times = np.asarray(open_times, dtype=np.int64)
    prices = np.asarray(closes, dtype=np.float64)
    if times.ndim != 1 or times.shape != prices.shape:
        raise BadData(f"{symbol}: open times and closes must be 1-D and equally long")
    if not bool(np.all(np.isfinite(prices) & (prices > 0))):
        raise BadData(f"{symbol}: closes must be finite and positive")
    if not bool(np.all(np.diff(times) > 0)):
        raise BadData(f"{symbol}: open times must be strictly increasing")
    return times, prices


def cross_correlation(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """``out[i, j]`` = Pearson correlation of rows ``x[i]`` and ``y[j]`` (equally long);
    NaN when either row is constant (checked exactly) or has fewer than 3 values."""
    if x.shape[1] < MIN_PAIRS:
        return np.full((x.shape[0], y.shape[0]), np.nan)
    x_centred = x - x.mean(axis=1, keepdims=True)
    y_centred = y - y.mean(axis=1, keepdims=True)
    x_scale = np.sqrt(np.einsum("ij,ij->i", x_centred, x_centred))
    y_scale = np.sqrt(np.einsum("ij,ij->i", y_centred, y_centred))
    x_flat, y_flat = np.ptp(x, axis=1) == 0, np.ptp(y, axis=1) == 0
    x_scale[x_flat], y_scale[y_flat] = 1.0, 1.0
    corr: NDArray[np.float64] = (x_centred @ y_centred.T) / np.outer(x_scale, y_scale)
    corr[x_flat, :] = np.nan
    corr[:, y_flat] = np.nan
    return corr


def as_matrix(corr: NDArray[np.float64], symbols: list[str]) -> Matrix:
    """``corr`` keyed by symbol, NaN as ``None``; a defined diagonal is exactly 1 (rounding
    leaves 1.0000000000000009 there, which readers comparing with 1 would trip on)."""
    matrix = {
        a: {b: number(corr[i, j]) for j, b in enumerate(symbols)} for i, a in enumerate(symbols)
    }
    for symbol in symbols:
        if matrix[symbol][symbol] is not None:
            matrix[symbol][symbol] = 1.0
    return matrix


def average_ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Ranks 1..n of ``values``, ties sharing their average rank."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.shape[0]]
    # A run of ties at sorted positions start..end-1 shares rank (start + end + 1) / 2.
    shared = (starts + ends + 1) / 2.0
    ranks = np.empty(values.shape[0], dtype=np.float64)
    ranks[order] = np.repeat(shared, ends - starts)
    return ranks


def lagged_correlations(
    gridded: NDArray[np.float64], max_lag: int
) -> tuple[list[int], NDArray[np.float64]]:
    """Lags ordered by ``(|l|, l)`` and ``out[k, i, j] = corr(r_i(t), r_j(t + lags[k]))``
    over the grid slots where both returns exist (NaN marks a missing one, at the same slots
    in every row); NaN where undefined (fewer than 3 pairs, or a side constant on them).

    Per lag, the sums over the valid pairs are dot products with the pair mask, so no copy
    of the rows is made; rows are centred on their overall mean first, which keeps the
    one-pass moments as exact as two passes (relative error ~1e-13 on 43,200 returns).
    """
    lags = sorted(range(-max_lag, max_lag + 1), key=lambda lag: (abs(lag), lag))
    rows, slots = gridded.shape
    valid = np.isfinite(gridded[0])
    centred = np.zeros_like(gridded)
    if valid.any():
        centred[:, valid] = gridded[:, valid] - gridded[:, valid].mean(axis=1, keepdims=True)
    squares = centred**2
    out = np.full((len(lags), rows, rows), np.nan)
    for k, lag in enumerate(lags):
        shift = abs(lag)
        if shift >= slots:
            continue
        head, tail = slice(0, slots - shift), slice(shift, slots)
        xs, ys = (head, tail) if lag >= 0 else (tail, head)
        pair = valid[xs] & valid[ys]
        n = int(np.count_nonzero(pair))
        if n < MIN_PAIRS:
            continue
        x, y = centred[:, xs], centred[:, ys]
        if n == pair.shape[0]:  # no gap: plain sums
            sum_x, sum_y = x.sum(axis=1), y.sum(axis=1)
            sum_xx, sum_yy = squares[:, xs].sum(axis=1), squares[:, ys].sum(axis=1)
            sum_xy = x @ y.T
        else:
            weight = pair.astype(np.float64)
            sum_x, sum_y = x @ weight, y @ weight
            sum_xx, sum_yy = squares[:, xs] @ weight, squares[:, ys] @ weight
            sum_xy = (x * weight) @ y.T
        var_x = sum_xx - sum_x * sum_x / n
        var_y = sum_yy - sum_y * sum_y / n
        cov = sum_xy - np.outer(sum_x, sum_y) / n
        flat_x, flat_y = _constant(x, pair), _constant(y, pair)
        corr = cov / np.sqrt(np.outer(np.where(flat_x, 1.0, var_x), np.where(flat_y, 1.0, var_y)))
        corr[flat_x, :] = np.nan
        corr[:, flat_y] = np.nan
        out[k] = corr
    return lags, out


def _constant(rows: NDArray[np.float64], kept: NDArray[np.bool_]) -> NDArray[np.bool_]:
    # Exact: a constant side has no correlation, whatever float noise its variance shows.
    if bool(kept.all()):
        flat: NDArray[np.bool_] = rows.min(axis=1) == rows.max(axis=1)
        return flat
    low = np.where(kept, rows, np.inf).min(axis=1)
    flat = low == np.where(kept, rows, -np.inf).max(axis=1)
    return flat


def strongest_lag(lags: list[int], values: NDArray[np.float64]) -> dict[str, float | int | None]:
    """The first of ``lags`` whose ``|value|`` is largest (NaN never wins)."""
    strength = np.where(np.isfinite(values), np.abs(values), -1.0)
    best = int(np.argmax(strength))
    if strength[best] < 0:
        return {"lag": None, "correlation": None}
    return {"lag": lags[best], "correlation": float(values[best])}


def correlation(
    closes: Mapping[str, tuple[ArrayLike, ArrayLike]],
    *,
    window: int,
    max_lag: int = 10,
    timeframe: str | None = None,
    rolling_window: int | None = None,
) -> dict[str, Any]:
    """Correlations of ``closes`` (symbol -> (open times in epoch ms, closes), oldest first)
    over the last ``window`` common open times (module docstring).

    Keys: symbols, observations, correlation_matrix, spearman_matrix, rolling_window,
    rolling_correlation, max_lag, lead_lag.
    """
    if window < 2:
        raise ValueError(f"a window is at least 2 bars, got {window}")
    if max_lag < 0:
        raise ValueError(f"max_lag must not be negative, got {max_lag}")
    if not closes:
        raise ValueError("correlation needs at least one symbol")
    symbols = list(closes)
    series = {symbol: _series(symbol, *closes[symbol]) for symbol in symbols}
    common = reduce(
        partial(np.intersect1d, assume_unique=True), (times for times, _ in series.values())
    )[-window:]
    if common.shape[0] < MIN_PAIRS + 1:
        raise InsufficientData(f"{common.shape[0]} common open times; at least 4 are needed")
    step = (
        step_ms(common, timeframe)
        if timeframe is not None
        else min(step_ms(times, None) for times, _ in series.values() if times.shape[0] > 1)
    )
    prices = np.stack([_on_common(times, prices, common) for times, prices in series.values()])
    linked = adjacent(common, step)
    all_returns = np.log(prices[:, 1:] / prices[:, :-1])
    returns = all_returns[:, linked]
    observations = returns.shape[1]
    if observations < MIN_PAIRS:
        raise InsufficientData(f"{observations} returns on the common grid; at least 3 needed")

    ranks = np.stack([average_ranks(row) for row in returns])
    recent = rolling_window if rolling_window is not None else max(MIN_PAIRS, observations // 4)
    if recent < MIN_PAIRS:
        raise ValueError(f"rolling_window must be at least {MIN_PAIRS}, got {recent}")
    gridded = _on_grid(all_returns, linked, grid_positions(common, step))
    lags, lagged = lagged_correlations(gridded, max_lag)
    pairs = list(combinations(range(len(symbols)), 2))
    return {
        "symbols": symbols,
        "observations": observations,
        "correlation_matrix": as_matrix(cross_correlation(returns, returns), symbols),
        "spearman_matrix": as_matrix(cross_correlation(ranks, ranks), symbols),
        "rolling_window": recent,
        "rolling_correlation": {
            f"{symbols[i]}/{symbols[j]}": pearson(returns[i, -recent:], returns[j, -recent:])
            if observations >= recent
            else None
            for i, j in pairs
        },
        "max_lag": max_lag,
        "lead_lag": {
            f"{symbols[i]}/{symbols[j]}": strongest_lag(lags, lagged[:, i, j]) for i, j in pairs
        },
    }


def _on_common(
    times: NDArray[np.int64], prices: NDArray[np.float64], common: NDArray[np.int64]
) -> NDArray[np.float64]:
    # Usually every series holds the whole common grid at its end: no search needed.
    tail = times[times.shape[0] - common.shape[0] :]
    if np.array_equal(tail, common):
        matched: NDArray[np.float64] = prices[times.shape[0] - common.shape[0] :]
        return matched
    found: NDArray[np.float64] = prices[np.searchsorted(times, common)]
    return found


def _on_grid(
    returns: NDArray[np.float64], linked: NDArray[np.bool_], positions: NDArray[np.int64]
) -> NDArray[np.float64]:
    # Returns on the regular bar grid (slot = grid index of the bar they end at, minus 1),
    # NaN where no return exists, so a lag of l slots is l bars of time.
    gridded = np.full((returns.shape[0], int(positions[-1])), np.nan)
    gridded[:, positions[1:][linked] - 1] = returns[:, linked]
    return gridded


__all__ = [
    "as_matrix",
    "average_ranks",
    "correlation",
    "cross_correlation",
    "lagged_correlations",
    "strongest_lag",
]
