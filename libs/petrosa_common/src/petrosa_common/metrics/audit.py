"""The auditor (petrosa-auditor): cycles, gaps, duplicates, health scores, auto-backfills.

Labels: ``symbol`` is one of ``SUPPORTED_PAIRS``; ``timeframe`` one of ``AUDIT_TIMEFRAMES``,
or ``aggTrade`` for the agg-trade id audit.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

AUDIT_CYCLE_SECONDS = Histogram(
    "data_manager_audit_cycle_seconds",
    "Duration of one audit cycle",
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
GAPS_DETECTED = Counter(
    "data_manager_audit_gaps_detected_total",
    "Gaps newly found, by symbol and timeframe",
    ["symbol", "timeframe"],
)
DUPLICATES_DETECTED = Counter(
    "data_manager_audit_duplicates_detected_total",
    "Surplus duplicate documents found in a cycle, by symbol and timeframe",
    ["symbol", "timeframe"],
)
HEALTH_SCORE = Gauge(
    "data_manager_audit_health_score",
    "Latest quality score (0-100), by symbol and timeframe",
    ["symbol", "timeframe"],
)
BACKFILLS_TRIGGERED = Counter(
    "data_manager_audit_backfills_triggered_total",
    "Auto-backfill requests published, by symbol and timeframe",
    ["symbol", "timeframe"],
)
DUPLICATES_REMOVED = Counter(
    "data_manager_duplicates_removed_total",
    "Duplicate documents removed, by symbol and timeframe",
    ["symbol", "timeframe"],
)
