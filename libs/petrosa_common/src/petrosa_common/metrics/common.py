"""Metrics every service may record: database operations, errors, the NATS connection.

Labels: ``database`` is ``mongodb`` or ``postgres``; ``operation`` is one of the fixed names
the recording code passes (docs/metrics.md lists them); ``status`` is ``ok``, ``error`` or
``timeout``; ``component`` names the part of a service that failed and ``kind`` what went
wrong (docs/metrics.md lists both sets).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DATABASE_OPERATIONS = Counter(
    "data_manager_database_operations_total",
    "Database operations, by database, operation and outcome",
    ["database", "operation", "status"],
)
ERRORS = Counter(
    "data_manager_errors_total", "Errors, by component and kind", ["component", "kind"]
)
NATS_CONNECTION_STATUS = Gauge(
    "data_manager_nats_connection_status", "1 when connected to NATS, else 0"
)
