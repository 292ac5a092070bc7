"""Backfill jobs (petrosa-backfiller): jobs, chunks, records, jobs given back to the queue.

Labels: ``status`` is ``completed``, ``failed`` or ``cancelled`` (a final
:class:`~petrosa_common.backfill_jobs.JobStatus`); ``data_type`` a
:data:`~petrosa_common.backfill_jobs.DataType`; ``timeframe`` a candle timeframe, or ``""``
for agg trades and funding; ``worker`` the number of the worker running the job,
``"1"`` … ``MAX_CONCURRENT_BACKFILL_JOBS``; ``reason`` a :data:`ReleaseReason`.
Job ids and symbols are not labels: they are open sets (the API and the logs carry them).
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

ReleaseReason = Literal[
    "shutdown",
    "claim_lost",
    "binance_unavailable",
    "mongodb_unavailable",
    "postgres_unavailable",
    "network_error",
]
"""Why a worker gave a job back (or lost it): the ``reason`` label of :data:`JOB_RELEASES`."""

JOBS_FINISHED = Counter(
    "data_manager_backfill_jobs_total",
    "Backfill jobs that ended, by final status and data type",
    ["status", "data_type"],
)
JOBS_RUNNING = Gauge("data_manager_backfill_jobs_running", "Backfill jobs running in this process")
JOB_PROGRESS = Gauge(
    "data_manager_backfill_job_progress_percent",
    "Progress of the job each worker runs (chunks done / total, percent)",
    ["worker", "data_type", "timeframe"],
)
CHUNKS = Counter(
    "data_manager_backfill_chunks_total",
    "Chunks fetched, written and checkpointed, by data type",
    ["data_type"],
)
CHUNK_SECONDS = Histogram(
    "data_manager_backfill_chunk_seconds",
    "Time to fetch, write and checkpoint one chunk",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
RECORDS_FETCHED = Counter(
    "data_manager_backfill_records_fetched_total",
    "Rows received from Binance, by data type",
    ["data_type"],
)
RECORDS_WRITTEN = Counter(
    "data_manager_backfill_records_written_total",
    "Documents inserted or updated by backfills, by data type",
    ["data_type"],
)
JOB_RELEASES = Counter(
    "data_manager_backfill_job_releases_total",
    "Jobs given back to the queue after a transient failure or shutdown, or lost, by reason",
    ["reason"],
)
