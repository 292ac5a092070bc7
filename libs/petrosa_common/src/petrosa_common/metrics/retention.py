"""Retention (the auditor's leader): documents deleted past each kind's horizon.

Labels: ``kind`` is a dataset kind (``trades``, ``depth``, ...), ``dead_letters`` or
``analytics_history``; ``status`` is ``completed``, ``partial``, ``aborted`` or ``failed``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RETENTION_DELETED = Counter(
    "data_manager_retention_deleted_total",
    "Documents deleted because they were older than their kind's retention horizon",
    ["kind"],
)
RETENTION_RUNS = Counter(
    "data_manager_retention_runs_total",
    "Retention runs, by how they ended",
    ["status"],
)
RETENTION_RUN_SECONDS = Histogram(
    "data_manager_retention_run_seconds",
    "Duration of one retention run",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
RETENTION_LAST_COMPLETED = Gauge(
    "data_manager_retention_last_completed_timestamp_seconds",
    "When the last retention run that reached every horizon finished (Unix time)",
)
