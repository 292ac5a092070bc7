"""The two ways a kernel refuses to compute."""

from __future__ import annotations


class InsufficientData(ValueError):
    """Too few bars (or book levels, or common open times) for the metric asked for."""


class BadData(ValueError):
    """Inputs no metric may be computed over: non-finite or non-positive prices, negative
    volumes, inconsistent candles, unordered times, a crossed book."""


__all__ = ["BadData", "InsufficientData"]
