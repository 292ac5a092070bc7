"""Gateway metrics (names per the seed: data_manager_requests_total, ...)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from petrosa_common.metrics import DATABASE_OPERATIONS, ERRORS
from prometheus_client import Counter, Gauge, Histogram

from petrosa_gateway.errors import QueryTimeout

T = TypeVar("T")

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


def record_error(endpoint: str, kind: str) -> None:
    """Count an error of ``kind`` at ``endpoint``."""
    ERRORS.labels(f"gateway:{endpoint}", kind).inc()


async def within_deadline(coro: Coroutine[Any, Any, T], seconds: float, what: str) -> T:
    """Run ``coro`` in its own task; :class:`QueryTimeout` (504) after ``seconds``.

    The answer does not wait for the abandoned task to honour its cancellation (drivers may
    finish the operation they are in first).
    """
    task = asyncio.ensure_future(coro)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if task in done:
        return task.result()
    task.cancel()
    task.add_done_callback(_consume)
    raise QueryTimeout(f"{what} took longer than {seconds} s")


def _consume(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: an abandoned read's late error is not an error to report


@asynccontextmanager
async def db_operation(database: str, operation: str) -> AsyncIterator[None]:
    """Count a database operation by outcome (``timeout`` for a :class:`QueryTimeout`)."""
    try:
        yield
    except QueryTimeout:
        DATABASE_OPERATIONS.labels(database, operation, "timeout").inc()
        raise
    except Exception:
        DATABASE_OPERATIONS.labels(database, operation, "error").inc()
        raise
    DATABASE_OPERATIONS.labels(database, operation, "ok").inc()
