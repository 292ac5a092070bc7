"""From frames of closed candles (and the latest book) to :class:`AnalyticsResult` values.

Pure: no I/O. Each family of each series is computed on its own: one that fails (too few
bars, refused data) is reported in :attr:`Computed.failures` and the others go on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from petrosa_common.analytics import AnalyticsResult, InputRange, MetricFamily
from petrosa_common.naming import DatasetKind, collection_name
from petrosa_common.timeframes import timeframe_ms

from petrosa_analytics import indicators
from petrosa_analytics.indicators import Bars, Book, RegimeThresholds

CANDLE_KERNELS = (
    MetricFamily.VOLATILITY,
    MetricFamily.VOLUME,
    MetricFamily.TREND,
    MetricFamily.DEVIATION,
    MetricFamily.SEASONALITY,
)
"""Families computed per series from its own candles (correlation spans series)."""


@dataclass(frozen=True, slots=True)
class Parameters:
    """Kernel parameters that are settings, not windows."""

    di_period: int = 14
    crossover_fast: int = 20
    crossover_slow: int = 50
    slippage_notionals: tuple[float, ...] = (1_000.0, 10_000.0, 100_000.0)
    thresholds: RegimeThresholds = field(default_factory=RegimeThresholds)


@dataclass(frozen=True, slots=True)
class Failure:
    """A result that could not be computed: ``kind`` is a metric label (the exception's class),
    ``detail`` the message."""

    metric: MetricFamily
    series: str
    kind: str
    detail: str


@dataclass(slots=True)
class Computed:
    """Results of one computation, and what could not be computed."""

    results: list[AnalyticsResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def extend(self, other: Computed) -> None:
        """Add ``other``'s results and failures."""
        self.results.extend(other.results)
        self.failures.extend(other.failures)

    def fail(self, metric: MetricFamily, series: str, error: Exception) -> None:
        """Record that ``metric`` of ``series`` failed with ``error``."""
        self.failures.append(Failure(metric, series, type(error).__name__, str(error)[:300]))


def completeness(open_times: pl.Series, timeframe: str) -> float:
    """Stored share of the bars between the first and last open time (1.0 without holes)."""
    if open_times.len() < 2:
        return 1.0 if open_times.len() else 0.0
    first: datetime = open_times[0]
    last: datetime = open_times[-1]
    expected = (last - first).total_seconds() * 1000 // timeframe_ms(timeframe) + 1
    return float(min(1.0, open_times.len() / expected))


def input_range(open_times: pl.Series) -> InputRange:
    """The first and last open time and the bar count of ``open_times``."""
    if open_times.is_empty():
        return InputRange(first_open=None, last_open=None, bars=0)
    return InputRange(first_open=open_times[0], last_open=open_times[-1], bars=open_times.len())


def candle_family(
    family: MetricFamily,
    frame: pl.DataFrame,
    *,
    symbol: str,
    timeframe: str,
    window: int,
    parameters: Parameters,
    computed_at: datetime,
    term: int,
) -> AnalyticsResult:
    """One family of one series over its last ``window`` bars (the frame before them is
    warm-up for recursive indicators). Raises the kernel's error when it cannot."""
    bars = Bars.from_frame(frame)
    values: dict[str, Any]
    if family is MetricFamily.VOLATILITY:
        values = indicators.volatility(bars, window=window, timeframe=timeframe)
    elif family is MetricFamily.VOLUME:
        values = indicators.volume(bars, window=window)
    elif family is MetricFamily.TREND:
        values = indicators.trend(
            bars,
            window=window,
            fast=parameters.crossover_fast,
            slow=parameters.crossover_slow,
            di_period=parameters.di_period,
        )
    elif family is MetricFamily.DEVIATION:
        values = indicators.deviation(bars, window=window, timeframe=timeframe)
    elif family is MetricFamily.SEASONALITY:
        values = indicators.seasonality(bars.tail(window), timeframe=timeframe)
    else:
        raise ValueError(f"{family} is not computed from one series' candles")
    used = frame["open_time"].tail(window)
    return AnalyticsResult(
        metric=family,
        symbol=symbol,
        timeframe=timeframe,
        window=window,
        values=values,
        computed_at=computed_at,
        input_range=input_range(used),
        data_completeness=completeness(used, timeframe),
        source=collection_name(DatasetKind.CANDLES, symbol, timeframe),
        term=term,
    )


def regime_result(
    results: Sequence[AnalyticsResult], parameters: Parameters
) -> AnalyticsResult | None:
    """The regime of a series from its volatility, volume and trend results (``None`` when
    one of them is missing or lacks its input value)."""
    by_family = {result.metric: result for result in results}
    volatility = by_family.get(MetricFamily.VOLATILITY)
    volume = by_family.get(MetricFamily.VOLUME)
    trend = by_family.get(MetricFamily.TREND)
    if volatility is None or volume is None or trend is None:
        return None
    annualized = volatility.values.get("annualized")
    spike = volume.values.get("volume_spike_ratio")
    roc = trend.values.get("rate_of_change")
    if annualized is None or spike is None or roc is None:
        return None
    values = indicators.regime(
        annualized_volatility=annualized,
        volume_spike_ratio=spike,
        rate_of_change=roc,
        thresholds=parameters.thresholds,
    )
    return volatility.model_copy(
        update={"metric": MetricFamily.REGIME, "values": values, "window": volatility.window}
    )


def correlation_result(
    frames: Mapping[str, pl.DataFrame],
    *,
    timeframe: str,
    window: int,
    computed_at: datetime,
    term: int,
) -> AnalyticsResult:
    """Correlation of the log returns of ``frames``' symbols on their common open times."""
    closes = {
        symbol: (
            frame["open_time"].tail(window).dt.epoch("ms").to_numpy(),
            frame["close"].tail(window).to_numpy(),
        )
        for symbol, frame in frames.items()
    }
    values = indicators.correlation(closes, window=window, timeframe=timeframe)
    common = _common_open_times(frames, window)
    symbols = sorted(frames)
    return AnalyticsResult(
        metric=MetricFamily.CORRELATION,
        symbol=",".join(symbols),
        timeframe=timeframe,
        window=window,
        values=values,
        computed_at=computed_at,
        input_range=input_range(common),
        data_completeness=completeness(common, timeframe),
        source=",".join(collection_name(DatasetKind.CANDLES, s, timeframe) for s in symbols),
        term=term,
    )


def _common_open_times(frames: Mapping[str, pl.DataFrame], window: int) -> pl.Series:
    sets = [set(frame["open_time"].tail(window).to_list()) for frame in frames.values()]
    common = sorted(set.intersection(*sets)) if sets else []
    return pl.Series("open_time", common, dtype=pl.Datetime("ms", "UTC"))


def spread_result(
    symbol: str,
    book_document: Mapping[str, Any],
    *,
    parameters: Parameters,
    computed_at: datetime,
    term: int,
) -> AnalyticsResult:
    """Spread and liquidity of ``symbol`` from its latest stored book snapshot."""
    values = indicators.spread(
        Book.from_document(book_document), notionals=parameters.slippage_notionals
    )
    at = book_document.get("timestamp")
    return AnalyticsResult(
        metric=MetricFamily.SPREAD,
        symbol=symbol,
        timeframe=None,
        window=0,
        values=values,
        computed_at=computed_at,
        input_range=InputRange(first_open=at, last_open=at, bars=1),
        data_completeness=1.0,
        source=collection_name(DatasetKind.DEPTH, symbol),
        term=term,
    )


def finite(values: Any) -> Any:
    """``values`` with every non-finite float replaced by ``None`` (JSON and BSON safe)."""
    if isinstance(values, dict):
        return {key: finite(value) for key, value in values.items()}
    if isinstance(values, list | tuple):
        return [finite(value) for value in values]
    if isinstance(values, float | np.floating):
        return float(values) if np.isfinite(values) else None
    if isinstance(values, np.integer):
        return int(values)
    return values
