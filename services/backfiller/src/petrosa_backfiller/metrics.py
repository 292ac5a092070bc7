"""The backfiller's Prometheus metrics: jobs, chunks, records, and the Binance traffic."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from petrosa_backfiller.binance import BinanceClient, RequestRecord

JOBS_FINISHED = Counter(
    "data_manager_backfill_jobs_total",
    "Backfill jobs that ended, by final status and data type",
    ["status", "data_type"],
)
JOBS_RUNNING = Gauge("data_manager_backfill_jobs_running", "Backfill jobs running in this process")
JOB_PROGRESS = Gauge(
    "data_manager_backfill_job_progress_percent",
    "Progress of each running job (chunks done / total, percent)",
    ["job_id", "symbol", "data_type", "timeframe"],
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
    "Jobs given back to the queue after a transient failure or shutdown, by reason",
    ["reason"],
)
BINANCE_REQUESTS = Counter(
    "data_manager_binance_requests_total",
    "Requests sent to Binance REST, by endpoint and HTTP status (error = no response)",
    ["endpoint", "status"],
)
BINANCE_REQUEST_SECONDS = Histogram(
    "data_manager_binance_request_seconds",
    "Binance REST request latency",
    ["endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BINANCE_WEIGHT = Counter(
    "data_manager_binance_request_weight_total", "Request weight sent to Binance"
)
BINANCE_USED_WEIGHT = Gauge(
    "data_manager_binance_used_weight_1m",
    "The latest X-MBX-USED-WEIGHT-1M Binance reported (weight used this minute by our IP)",
)
BINANCE_BUDGET = Gauge(
    "data_manager_binance_weight_budget",
    "Weight per minute the client allows itself now (lowered for a while after 429/418)",
)


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
