"""The backfiller's recording helpers; the metric objects are defined in
:mod:`petrosa_common.metrics.backfill` and :mod:`petrosa_common.metrics.binance` (re-exported
here for existing imports)."""

from __future__ import annotations

from petrosa_common.metrics.backfill import (
    CHUNK_SECONDS,
    CHUNKS,
    JOB_PROGRESS,
    JOB_RELEASES,
    JOBS_FINISHED,
    JOBS_RUNNING,
    RECORDS_FETCHED,
    RECORDS_WRITTEN,
)
from petrosa_common.metrics.binance import (
    BINANCE_BUDGET,
    BINANCE_REQUEST_SECONDS,
    BINANCE_REQUESTS,
    BINANCE_USED_WEIGHT,
    BINANCE_WEIGHT,
)

from petrosa_backfiller.binance import BinanceClient, RequestRecord

__all__ = [
    "BINANCE_BUDGET",
    "BINANCE_REQUESTS",
    "BINANCE_REQUEST_SECONDS",
    "BINANCE_USED_WEIGHT",
    "BINANCE_WEIGHT",
    "CHUNKS",
    "CHUNK_SECONDS",
    "JOBS_FINISHED",
    "JOBS_RUNNING",
    "JOB_PROGRESS",
    "JOB_RELEASES",
    "RECORDS_FETCHED",
    "RECORDS_WRITTEN",
    "observe_budget",
    "record_binance_response",
]


def record_binance_response(record: RequestRecord) -> None:
    """``BinanceClient(on_response=...)`` hook: count one HTTP exchange."""
    status = str(record.status) if record.status is not None else "error"
    BINANCE_REQUESTS.labels(record.endpoint, status).inc()
    BINANCE_REQUEST_SECONDS.labels(record.endpoint).observe(record.seconds)
    BINANCE_WEIGHT.inc(record.weight)
    if record.used_weight is not None:
        BINANCE_USED_WEIGHT.set(record.used_weight)


def observe_budget(client: BinanceClient) -> None:
    """Export the client's effective budget (call after each chunk)."""
    BINANCE_BUDGET.set(client.limiter.effective_budget)
