"""Gateway metrics (names per the seed: data_manager_requests_total, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from petrosa_common.metrics import DATABASE_OPERATIONS, ERRORS
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
ACTIVE_CONNECTIONS = Gauge(
    "data_manager_active_connections",
    "Database connection pool state, by database and state (open, in_use, idle, waiting)",
    ["database", "state"],
)


def record_error(endpoint: str, kind: str) -> None:
    """Count an error of ``kind`` at ``endpoint``."""
    ERRORS.labels(f"gateway:{endpoint}", kind).inc()


@contextmanager
def db_operation(database: str, operation: str) -> Iterator[None]:
    """Count a database operation by outcome."""
    try:
        yield
    except Exception:
        DATABASE_OPERATIONS.labels(database, operation, "error").inc()
        raise
    DATABASE_OPERATIONS.labels(database, operation, "ok").inc()
