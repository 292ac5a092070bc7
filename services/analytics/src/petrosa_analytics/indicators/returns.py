"""Log returns between adjacent bars: the one rule for missing candles.

A return ``r_i = ln(C_i / C_{i-1})`` exists only when bar ``i - 1`` is bar ``i``'s direct
predecessor: ``open_time_i - open_time_{i-1} < 1.5 * step``. For fixed-length timeframes that
is exactly one step (a missing candle makes the spacing two steps or more); the half-step
margin lets calendar months (28 to 31 days against a nominal 30) count as adjacent. A return
across a gap is dropped (NaN here), never stretched over the missing bars.

``step`` is the timeframe's nominal length; when no timeframe is given, it is the smallest
spacing between the open times passed.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from petrosa_common.timeframes import timeframe_ms

from petrosa_analytics.indicators.errors import InsufficientData

ADJACENT_STEPS = 1.5
"""Open times less than this many steps apart are adjacent bars."""


def step_ms(open_time: NDArray[np.int64], timeframe: str | None) -> int:
    """Nominal bar length in ms: the timeframe's, else the smallest spacing in ``open_time``."""
    if timeframe is not None:
        return timeframe_ms(timeframe)
    if open_time.shape[0] < 2:
        raise InsufficientData("at least 2 bars are needed to infer the bar spacing")
    return int(np.min(np.diff(open_time)))


def adjacent(open_time: NDArray[np.int64], step: int) -> NDArray[np.bool_]:
    """``mask[i - 1]``: bar ``i - 1`` directly precedes bar ``i`` (length ``n - 1``)."""
    return np.diff(open_time) < ADJACENT_STEPS * step


def log_returns(
    open_time: NDArray[np.int64], close: NDArray[np.float64], step: int
) -> NDArray[np.float64]:
    """``ln(C_i / C_{i-1})`` for ``i = 1..n-1``; NaN where the two bars are not adjacent."""
    returns = np.log(close[1:] / close[:-1])
    return np.where(adjacent(open_time, step), returns, np.nan)


def grid_positions(open_time: NDArray[np.int64], step: int) -> NDArray[np.int64]:
    """Index of each bar on the regular grid of ``step`` starting at the first bar (exact for
    fixed-length timeframes; calendar months round to the nearest 30 days)."""
    positions: NDArray[np.int64] = np.rint((open_time - open_time[0]) / step).astype(np.int64)
    return positions


__all__ = ["ADJACENT_STEPS", "adjacent", "grid_positions", "log_returns", "step_ms"]
