"""Volatility of one series over a window: per-bar estimators, annualised for a 24/7 market.

Every estimator is a per-bar standard deviation of log price changes (``sqrt`` of the variance
below); ``annualized_<name> = <name> * sqrt(bars_per_year)`` with
``bars_per_year = 365 * 86400 / timeframe_seconds`` (crypto trades every day: 1m -> 525,600).
Window ``N`` = the last ``N`` bars; returns ``r_i = ln(C_i / C_{i-1})`` are taken between
adjacent bars inside it (at most ``N - 1``; see :mod:`.returns` for gaps). With
``u = ln(H/L)``, ``c = ln(C/O)``, ``h = ln(H/O)``, ``l = ln(L/O)``, per bar:

* rolling_stddev: sample standard deviation (``n - 1``) of the window's returns (>= 2 needed).
* parkinson: ``mean(u^2) / (4 ln 2)`` over the ``N`` bars.
* garman_klass: ``mean(0.5 u^2 - (2 ln 2 - 1) c^2)``.
* rogers_satchell: ``mean(h (h - c) + l (l - c))``.
* yang_zhang: over the ``n`` bars whose previous bar is in the window and adjacent,
  ``var(o) + k var(c) + (1 - k) mean(rs)`` with overnight ``o = ln(O_i / C_{i-1})``, sample
  variances and ``k = 0.34 / (1.34 + (n + 1) / (n - 1))`` (>= 2 such bars needed).
* ewma: RiskMetrics ``s_i = lambda s_{i-1} + (1 - lambda) r_i^2`` over the window's returns in
  order, seeded with ``s_0 = mean(r^2)`` (their zero-mean variance); the value is ``sqrt(s_m)``.
* vov: sample standard deviation of the single-bar Parkinson volatilities
  ``u / sqrt(4 ln 2)`` over the ``N`` bars: how much bar-to-bar volatility varies.
* atr: TA-Lib's Wilder ATR (price units) over the whole series passed, last value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import talib
from numpy.typing import NDArray
from petrosa_common.timeframes import timeframe_ms, timeframe_seconds

from petrosa_analytics.indicators.bars import Bars
from petrosa_analytics.indicators.returns import adjacent, log_returns
from petrosa_analytics.indicators.values import number

Prices = NDArray[np.float64]
_FOUR_LN2 = 4.0 * math.log(2.0)
_GK_CLOSE = 2.0 * math.log(2.0) - 1.0
_SECONDS_PER_YEAR = 365 * 86_400
ANNUALIZED = ("parkinson", "garman_klass", "rogers_satchell", "yang_zhang", "ewma")
"""Estimators also reported as ``annualized_<name>``."""


def bars_per_year(timeframe: str) -> float:
    """``365 * 86400 / timeframe_seconds``: bars in a year of a market that never closes."""
    return _SECONDS_PER_YEAR / timeframe_seconds(timeframe)


def close_to_close_variance(returns: Prices) -> float | None:
    """Sample variance of the finite ``returns``; ``None`` below two."""
    kept = returns[np.isfinite(returns)]
    return float(np.var(kept, ddof=1)) if kept.shape[0] >= 2 else None


def parkinson_variance(high: Prices, low: Prices) -> float:
    """``mean(ln(H/L)^2) / (4 ln 2)``."""
    return float(np.mean(np.log(high / low) ** 2) / _FOUR_LN2)


def garman_klass_variance(open_: Prices, high: Prices, low: Prices, close: Prices) -> float:
    """``mean(0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2)`` (never negative for valid bars)."""
    terms = 0.5 * np.log(high / low) ** 2 - _GK_CLOSE * np.log(close / open_) ** 2
    return float(np.mean(terms))


def rogers_satchell_terms(open_: Prices, high: Prices, low: Prices, close: Prices) -> Prices:
    """Per-bar ``ln(H/C) ln(H/O) + ln(L/C) ln(L/O)``."""
    from_high = np.log(high / close) * np.log(high / open_)
    from_low = np.log(low / close) * np.log(low / open_)
    terms: Prices = from_high + from_low
    return terms


def yang_zhang_variance(
    open_: Prices, high: Prices, low: Prices, close: Prices, linked: NDArray[np.bool_]
) -> float | None:
    """Yang-Zhang over bars ``i >= 1`` with ``linked[i - 1]`` (previous bar adjacent);
    ``None`` below two such bars."""
    current = np.flatnonzero(linked) + 1
    n = current.shape[0]
    if n < 2:
        return None
    overnight = np.log(open_[current] / close[current - 1])
    open_close = np.log(close[current] / open_[current])
    rs = rogers_satchell_terms(open_[current], high[current], low[current], close[current])
    k = 0.34 / (1.34 + (n + 1) / (n - 1))
    return float(np.var(overnight, ddof=1) + k * np.var(open_close, ddof=1) + (1 - k) * np.mean(rs))


def ewma_variance(returns: Prices, decay: float) -> float | None:
    """RiskMetrics variance after the finite ``returns`` (seed: their mean square);
    ``None`` below two. Closed form of the recursion, so no loop over bars."""
    kept = returns[np.isfinite(returns)]
    m = kept.shape[0]
    if m < 2:
        return None
    squares = kept**2
    weights = decay ** np.arange(m - 1, -1, -1, dtype=np.float64)
    return float(decay**m * np.mean(squares) + (1 - decay) * np.dot(weights, squares))


def vol_of_vol(high: Prices, low: Prices) -> float:
    """Sample standard deviation of per-bar Parkinson volatilities ``ln(H/L) / sqrt(4 ln 2)``."""
    return float(np.std(np.log(high / low) / math.sqrt(_FOUR_LN2), ddof=1))


def volatility(
    bars: Bars,
    *,
    window: int,
    timeframe: str,
    ewma_lambda: float = 0.94,
    atr_period: int = 14,
) -> dict[str, Any]:
    """Volatility of the last ``window`` bars of ``timeframe`` candles (module docstring).

    Keys: rolling_stddev, annualized, parkinson, garman_klass, rogers_satchell, yang_zhang,
    ewma, vov, annualized_<parkinson|garman_klass|rogers_satchell|yang_zhang|ewma>, atr,
    bars_per_year, returns_used. Raises InsufficientData for fewer than ``window`` bars.
    """
    if not 0.0 < ewma_lambda < 1.0:
        raise ValueError(f"ewma_lambda must be in (0, 1), got {ewma_lambda}")
    if atr_period < 1:
        raise ValueError(f"atr_period must be at least 1, got {atr_period}")
    w = bars.window(window)
    step = timeframe_ms(timeframe)
    returns = log_returns(w.open_time, w.close, step)
    per_year = bars_per_year(timeframe)
    variances = {
        "parkinson": parkinson_variance(w.high, w.low),
        "garman_klass": garman_klass_variance(w.open, w.high, w.low, w.close),
        "rogers_satchell": float(np.mean(rogers_satchell_terms(w.open, w.high, w.low, w.close))),
        "yang_zhang": yang_zhang_variance(
            w.open, w.high, w.low, w.close, adjacent(w.open_time, step)
        ),
        "ewma": ewma_variance(returns, ewma_lambda),
    }
    stddev = _root(close_to_close_variance(returns))
    per_bar = {name: _root(variance) for name, variance in variances.items()}
    atr = talib.ATR(bars.high, bars.low, bars.close, timeperiod=atr_period)
    return {
        "rolling_stddev": stddev,
        "annualized": _scale(stddev, math.sqrt(per_year)),
        **per_bar,
        "vov": number(vol_of_vol(w.high, w.low)),
        **{f"annualized_{name}": _scale(per_bar[name], math.sqrt(per_year)) for name in ANNUALIZED},
        "atr": number(atr[-1]),
        "bars_per_year": per_year,
        "returns_used": int(np.count_nonzero(np.isfinite(returns))),
    }


def _root(variance: float | None) -> float | None:
    # Float noise may leave a zero variance a hair below 0: a flat market has volatility 0.
    return None if variance is None else number(math.sqrt(max(variance, 0.0)))


def _scale(value: float | None, factor: float) -> float | None:
    return None if value is None else number(value * factor)


__all__ = [
    "ANNUALIZED",
    "bars_per_year",
    "close_to_close_variance",
    "ewma_variance",
    "garman_klass_variance",
    "parkinson_variance",
    "rogers_satchell_terms",
    "vol_of_vol",
    "volatility",
    "yang_zhang_variance",
]
