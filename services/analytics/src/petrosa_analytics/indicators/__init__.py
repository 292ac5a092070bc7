"""Pure metric kernels of the analytics service: candles or a book in, JSON-ready dicts out.

No I/O. One module per family, each exposing one function; definitions are in each module's
docstring and in ``docs/analytics.md``. Values that cannot be computed are ``None`` (never
NaN or infinity); inputs no metric may be computed over raise :class:`BadData`, too few bars
raise :class:`InsufficientData`.
"""

from __future__ import annotations

from petrosa_analytics.indicators.bars import Bars
from petrosa_analytics.indicators.book import Book
from petrosa_analytics.indicators.correlation import correlation
from petrosa_analytics.indicators.deviation import deviation
from petrosa_analytics.indicators.errors import BadData, InsufficientData
from petrosa_analytics.indicators.regime import RegimeThresholds, regime
from petrosa_analytics.indicators.seasonality import seasonality
from petrosa_analytics.indicators.spread import spread
from petrosa_analytics.indicators.trend import trend
from petrosa_analytics.indicators.volatility import volatility
from petrosa_analytics.indicators.volume import volume

__all__ = [
    "BadData",
    "Bars",
    "Book",
    "InsufficientData",
    "RegimeThresholds",
    "correlation",
    "deviation",
    "regime",
    "seasonality",
    "spread",
    "trend",
    "volatility",
    "volume",
]
