"""Analytics (petrosa-analytics): cycles, results computed, results that failed.

Labels: ``metric`` is a :class:`~petrosa_common.analytics.MetricFamily` value; ``origin`` is
``cycle`` or ``on_demand``; ``reason`` is the class name of the failure (docs/metrics.md).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ANALYTICS_CYCLE_SECONDS = Histogram(
    "data_manager_analytics_cycle_seconds",
    "Duration of an analytics cycle (read, compute, write), by the leader",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
ANALYTICS_SERIES_COMPUTED = Counter(
    "data_manager_analytics_series_computed_total",
    "Results computed, by metric family and origin (cycle, on_demand)",
    ["metric", "origin"],
)
ANALYTICS_ERRORS = Counter(
    "data_manager_analytics_errors_total",
    "Results that could not be computed, by metric family and reason",
    ["metric", "reason"],
)
