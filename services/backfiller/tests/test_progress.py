"""Following a job on a console (``petrosa_backfiller.progress``)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from petrosa_backfiller.progress import ProgressLine, follow, span, summary
from petrosa_common.backfill_jobs import BackfillJob
from rich.console import Console


def job(status: str, chunks_done: int, fetched: int, **extra: Any) -> BackfillJob:
    at = datetime(2024, 6, 1, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": 7,
        "symbol": "BTCUSDT",
        "data_type": "candles",
        "timeframe": "1m",
        "start_time": datetime(2024, 1, 1, tzinfo=UTC),
        "end_time": "2024-01-05T00:00:00Z",
        "priority": 0,
        "status": status,
        "progress": 25 * chunks_done,
        "records_fetched": fetched,
        "records_written": fetched,
        "chunks_done": chunks_done,
        "chunks_total": 4,
        "error": None,
        "attempts": 0,
        "retry_at": None,
        "requested_by": "cli",
        "details": {},
        "created_at": at,
        "updated_at": at,
        "started_at": None,
        "completed_at": None,
        **extra,
    }
    return BackfillJob.model_validate(values)


def test_eta_follows_the_chunk_pace_since_following_began() -> None:
    assert ProgressLine.eta(job("running", 1, 1500), elapsed=10.0, done_at_start=1) is None
    assert ProgressLine.eta(job("running", 3, 4500), elapsed=10.0, done_at_start=1) == 5.0


def test_rate_counts_rows_fetched_since_following_began() -> None:
    line = ProgressLine(started=100.0)
    assert line.rate(job("running", 1, 1500), now=100.0) == 0.0
    assert line.rate(job("running", 3, 4500), now=102.0) == 1500.0


def test_span_and_summary_read_well() -> None:
    done = job("completed", 4, 5760)
    assert span(done) == "[2024-01-01T00:00:00Z, 2024-01-05T00:00:00Z)"
    assert summary(done, 3.21) == (
        "#7 BTCUSDT candles 1m completed: 5,760 rows fetched, 5,760 written, 4/4 chunks in 3.2s"
    )
    failed = job("failed", 0, 0, error="Binance: Invalid symbol.")
    assert summary(failed, 0.5).endswith("0/4 chunks in 0.5s — Binance: Invalid symbol.")


async def test_off_a_terminal_one_line_per_change_until_the_job_ends() -> None:
    states = iter(
        [
            job("running", 1, 1500),
            job("running", 1, 1500),  # unchanged: no new line
            job("running", 3, 4500),
            job("completed", 4, 5760),
        ]
    )

    async def fetch() -> BackfillJob:
        return next(states)

    out = io.StringIO()
    console = Console(file=out, force_terminal=False, soft_wrap=True)
    final = await follow(job("pending", 0, 0), fetch, console, poll=0)
    assert final.status == "completed"
    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "#7 BTCUSDT candles 1m pending",
        "#7 BTCUSDT candles 1m running",
        "#7 BTCUSDT candles 1m running",
        "#7 BTCUSDT candles 1m completed",
    ]
    assert "3/4 chunks (75%) · 4,500 rows" in lines[2]
    assert lines[3].endswith("ETA 0s")
