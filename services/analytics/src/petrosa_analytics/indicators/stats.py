"""Small statistics shared by several families (pure numpy, exact two-pass arithmetic)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from petrosa_analytics.indicators.values import number

MIN_PAIRS = 3
"""Fewest pairs a correlation is reported for (two points always correlate at +-1)."""


def pearson(x: NDArray[np.float64], y: NDArray[np.float64]) -> float | None:
    """Pearson correlation of equally long ``x`` and ``y``; ``None`` below :data:`MIN_PAIRS`
    pairs or when either side is constant (checked exactly, not against float noise)."""
    if x.shape[0] < MIN_PAIRS or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    dx = x - x.mean()
    dy = y - y.mean()
    return number(np.dot(dx, dy) / np.sqrt(np.dot(dx, dx) * np.dot(dy, dy)))


__all__ = ["MIN_PAIRS", "pearson"]
