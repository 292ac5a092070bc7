"""Dispersion of one series' closes around their mean over a window.

Window ``N`` = the last ``N`` closes, population statistics (divide by ``N``, like the bands):

* standard_deviation, variance: of the closes, in price and price^2 units.
* z_score: ``(last close - mean) / standard_deviation``.
* bollinger_upper / middle / lower: TA-Lib BBANDS (SMA of ``N``, ``bands_k`` population
  standard deviations either side).
* percent_b: ``(last close - lower) / (upper - lower)``: 0 at the lower band, 1 at the upper.
* price_range_index: ``(last close - lowest low) / (highest high - lowest low)`` of the
  window, in [0, 1]; ``None`` when the window has no range.
* autocorrelation: Pearson correlation of consecutive log-return pairs ``(r_{i-1}, r_i)``
  inside the window, both returns between adjacent bars (a pair touching a gap is dropped);
  ``None`` below 3 pairs or when either side has no variance.

A flat window (every close equal) has standard deviation and variance 0; z_score and
percent_b are ``None`` there (no dispersion to measure against).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import talib
from numpy.typing import NDArray

from petrosa_analytics.indicators.bars import Bars
from petrosa_analytics.indicators.returns import log_returns, step_ms
from petrosa_analytics.indicators.stats import pearson
from petrosa_analytics.indicators.values import number


def lag1_autocorrelation(returns: NDArray[np.float64]) -> float | None:
    """Pearson correlation of ``(r_{i-1}, r_i)`` over pairs where both are finite."""
    both = np.isfinite(returns[:-1]) & np.isfinite(returns[1:])
    return pearson(returns[:-1][both], returns[1:][both])


def deviation(
    bars: Bars, *, window: int, bands_k: float = 2.0, timeframe: str | None = None
) -> dict[str, Any]:
    """Deviation metrics of the last ``window`` bars (module docstring); ``timeframe`` sets
    the bar spacing for gaps (default: the smallest spacing of ``bars``).

    Keys: standard_deviation, variance, z_score, bollinger_upper, bollinger_middle,
    bollinger_lower, percent_b, price_range_index, autocorrelation. Raises InsufficientData
    for fewer than ``window`` bars.
    """
    if not bands_k > 0:
        raise ValueError(f"bands_k must be positive, got {bands_k}")
    w = bars.window(window)
    close = w.close
    last = float(close[-1])
    flat = bool(np.ptp(close) == 0)
    variance = 0.0 if flat else float(np.var(close))
    stddev = float(np.sqrt(variance))
    upper, middle, lower = (
        band[-1]
        # TA-Lib's default matype is the SMA: the classic bands.
        for band in talib.BBANDS(close, timeperiod=window, nbdevup=bands_k, nbdevdn=bands_k)
    )
    low, high = float(np.min(w.low)), float(np.max(w.high))
    returns = log_returns(w.open_time, close, step_ms(bars.open_time, timeframe))
    return {
        "standard_deviation": stddev,
        "variance": variance,
        "z_score": None if flat else number((last - float(np.mean(close))) / stddev),
        "bollinger_upper": number(upper),
        "bollinger_middle": number(middle),
        "bollinger_lower": number(lower),
        "percent_b": None if flat else number((last - lower) / (upper - lower)),
        "price_range_index": (last - low) / (high - low) if high > low else None,
        "autocorrelation": lag1_autocorrelation(returns),
    }


__all__ = ["deviation", "lag1_autocorrelation"]
