"""The gateway (petrosa-gateway): HTTP requests, connection pools, documents left out of pages.

Labels: ``method`` is ``GET``, ``HEAD``, ``POST``, ``PUT``, ``PATCH``, ``DELETE``,
``OPTIONS`` or ``other``; ``endpoint`` the matched route template (``/data/candles``,
``/api/v1/{database}/{collection}``) or ``unmatched``; ``status`` the HTTP status;
``kind`` a :class:`~petrosa_common.naming.DatasetKind` value; ``database``/``state`` the pairs
listed in docs/metrics.md.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "data_manager_requests_total",
    "HTTP requests, by method, endpoint (route template) and status",
    ["method", "endpoint", "status"],
)
REQUEST_DURATION = Histogram(
    "data_manager_request_duration_seconds",
    "HTTP request latency, by method and endpoint",
    ["method", "endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ACTIVE_REQUESTS = Gauge("data_manager_active_requests", "HTTP requests in progress")
SKIPPED_DOCUMENTS = Counter(
    "data_manager_gateway_skipped_documents_total",
    "Stored documents left out of a /data/* page because they do not fit its published item "
    "(a field of the wrong type, a non-finite number), by dataset kind",
    ["kind"],
)
ACTIVE_CONNECTIONS = Gauge(
    "data_manager_active_connections",
    "Database connection pool state, by database and state (open, in_use, idle, waiting)",
    ["database", "state"],
)
