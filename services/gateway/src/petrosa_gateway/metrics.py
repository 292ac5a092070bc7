"""The gateway's recording helpers; the metric objects are defined in
:mod:`petrosa_common.metrics.gateway` and :mod:`petrosa_common.metrics.common` (re-exported
here for existing imports)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from petrosa_common.metrics.common import DATABASE_OPERATIONS, ERRORS
from petrosa_common.metrics.gateway import (
    ACTIVE_CONNECTIONS,
    ACTIVE_REQUESTS,
    REQUEST_DURATION,
    REQUESTS,
    SKIPPED_DOCUMENTS,
)

from petrosa_gateway.errors import QueryTimeout

__all__ = [
    "ACTIVE_CONNECTIONS",
    "ACTIVE_REQUESTS",
    "DATABASE_OPERATIONS",
    "ERRORS",
    "REQUESTS",
    "REQUEST_DURATION",
    "SKIPPED_DOCUMENTS",
    "db_operation",
    "record_error",
    "within_deadline",
]

T = TypeVar("T")


def record_error(endpoint: str, kind: str) -> None:
    """Count an error of ``kind`` (``component="gateway"``).

    Label values stay in closed sets: ``kind`` is ``database_unavailable``, ``http_5xx`` (the
    status answered) or else ``internal_error`` (an exception's class is open-ended: the log
    names it). ``endpoint`` is not a label: callers may pass a raw path, and the route
    template of a failed request is already in ``data_manager_requests_total``.
    """
    ERRORS.labels("gateway", kind if _CLOSED_KIND.fullmatch(kind) else "internal_error").inc()


_CLOSED_KIND = re.compile(r"database_unavailable|http_5\d\d")


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
