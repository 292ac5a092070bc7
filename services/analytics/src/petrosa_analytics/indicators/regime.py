"""Market regime of one series from three numbers, by fixed thresholds.

Levels (strict comparisons; a missing input counts as medium / neutral):

* volatility_level from the annualised volatility: "high" above ``vol_high``, "low" below
  ``vol_low``, else "medium".
* volume_level from the volume spike ratio: "high" above ``volume_high``, "low" below
  ``volume_low``, else "medium".
* trend_direction from the rate of change (percent): "bullish" above ``+trend``, "bearish"
  below ``-trend``, else "neutral".

Regime: the first rule that matches, in this order.

====  ==========  ======  =======  ======================
rule  volatility  volume  trend    regime
====  ==========  ======  =======  ======================
1     high        low     any      turbulent_illiquidity
2     low         high    any      stable_accumulation
3     high        high    bullish  bullish_acceleration
4     high        high    bearish  bearish_acceleration
5     high        high    neutral  breakout_phase
6     low         low     any      consolidation
7     medium      medium  any      balanced_market
8     anything else                transitional
====  ==========  ======  =======  ======================

Confidence = ``0.5 + 0.5 * min(clarity)`` over the dimensions the rule reads (volatility and
volume for every rule; trend as well for rules 3 to 5), rounded to 4 decimals. Clarity of one
input, in [0, 1], is how far it sits inside its level, in units of the threshold band:
``(x - high) / (high - low)`` for high, ``(low - x) / (high - low)`` for low, and the distance
to the nearer threshold over half the band for medium (1 at the band's centre), each capped
at 1; for the trend the band is ``trend`` (neutral: ``(trend - |roc|) / trend``). An input on
a threshold gives 0.5 (a coin flip between two regimes); inputs at least a band past their
thresholds give 1. A missing input has clarity 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

Level = Literal["low", "medium", "high"]
Direction = Literal["bullish", "bearish", "neutral"]
Regime = Literal[
    "turbulent_illiquidity",
    "stable_accumulation",
    "bullish_acceleration",
    "bearish_acceleration",
    "breakout_phase",
    "consolidation",
    "balanced_market",
    "transitional",
]
CONFIDENCE_BASIS = "0.5 + 0.5 * min(clarity of the inputs the rule reads)"


@dataclass(frozen=True, slots=True)
class RegimeThresholds:
    """Level boundaries: annualised volatility, volume spike ratio, ROC percent."""

    vol_high: float = 0.5
    vol_low: float = 0.2
    volume_high: float = 1.5
    volume_low: float = 0.7
    trend: float = 2.0

    def __post_init__(self) -> None:
        values = asdict(self).values()
        if not all(math.isfinite(value) and value >= 0 for value in values):
            raise ValueError(f"thresholds must be finite and non-negative: {self}")
        if not (self.vol_low < self.vol_high and self.volume_low < self.volume_high):
            raise ValueError(f"each low threshold must be below its high one: {self}")
        if self.trend <= 0:
            raise ValueError(f"the trend threshold must be positive: {self}")


def level(value: float | None, *, low: float, high: float) -> tuple[Level, float]:
    """Level of ``value`` between ``low`` and ``high`` and its clarity (module docstring)."""
    if value is None:
        return "medium", 0.0
    band = high - low
    if value > high:
        return "high", min(1.0, (value - high) / band)
    if value < low:
        return "low", min(1.0, (low - value) / band)
    return "medium", min(1.0, min(value - low, high - value) / (band / 2))


def direction(rate_of_change: float | None, *, threshold: float) -> tuple[Direction, float]:
    """Trend direction of a percent rate of change and its clarity."""
    if rate_of_change is None:
        return "neutral", 0.0
    if rate_of_change > threshold:
        return "bullish", min(1.0, (rate_of_change - threshold) / threshold)
    if rate_of_change < -threshold:
        return "bearish", min(1.0, (-threshold - rate_of_change) / threshold)
    return "neutral", (threshold - abs(rate_of_change)) / threshold


def classify(volatility: Level, volume: Level, trend: Direction) -> tuple[Regime, bool]:
    """The regime of the rule table and whether that rule reads the trend."""
    if volatility == "high" and volume == "low":
        return "turbulent_illiquidity", False
    if volatility == "low" and volume == "high":
        return "stable_accumulation", False
    if volatility == "high" and volume == "high":
        if trend == "bullish":
            return "bullish_acceleration", True
        if trend == "bearish":
            return "bearish_acceleration", True
        return "breakout_phase", True
    if volatility == "low" and volume == "low":
        return "consolidation", False
    if volatility == "medium" and volume == "medium":
        return "balanced_market", False
    return "transitional", False


def regime(
    *,
    annualized_volatility: float | None,
    volume_spike_ratio: float | None,
    rate_of_change: float | None,
    thresholds: RegimeThresholds | None = None,
) -> dict[str, Any]:
    """Regime, levels and confidence (module docstring).

    Keys: regime, volatility_level, volume_level, trend_direction, confidence, inputs (the
    three inputs, the thresholds, each clarity and the confidence rule).
    """
    limits = thresholds if thresholds is not None else RegimeThresholds()
    inputs = {
        "annualized_volatility": annualized_volatility,
        "volume_spike_ratio": volume_spike_ratio,
        "rate_of_change": rate_of_change,
    }
    for name, value in inputs.items():
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{name} must be finite or None, got {value}")
    vol_level, vol_clarity = level(annualized_volatility, low=limits.vol_low, high=limits.vol_high)
    volume_level, volume_clarity = level(
        volume_spike_ratio, low=limits.volume_low, high=limits.volume_high
    )
    trend_direction, trend_clarity = direction(rate_of_change, threshold=limits.trend)
    name, reads_trend = classify(vol_level, volume_level, trend_direction)
    clarity = min(vol_clarity, volume_clarity, trend_clarity if reads_trend else 1.0)
    return {
        "regime": name,
        "volatility_level": vol_level,
        "volume_level": volume_level,
        "trend_direction": trend_direction,
        "confidence": round(0.5 + 0.5 * clarity, 4),
        "inputs": {
            **inputs,
            "thresholds": asdict(limits),
            "clarity": {
                "volatility": vol_clarity,
                "volume": volume_clarity,
                "trend": trend_clarity,
            },
            "confidence_basis": CONFIDENCE_BASIS,
        },
    }


__all__ = [
    "CONFIDENCE_BASIS",
    "Direction",
    "Level",
    "Regime",
    "RegimeThresholds",
    "classify",
    "direction",
    "level",
    "regime",
]
