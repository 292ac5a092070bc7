"""Following a backfill job on a console: a live bar on a terminal (chunks, rows, rows/s,
elapsed, ETA), one line per change otherwise."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from petrosa_common.backfill_jobs import BackfillJob, JobStatus
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

FINAL = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
FetchJob = Callable[[], Awaitable[BackfillJob]]
"""Returns the job's current state."""


@dataclass(slots=True)
class ProgressLine:
    """Rate and ETA of a followed job, from successive snapshots."""

    started: float
    first_records: int | None = None

    def rate(self, job: BackfillJob, now: float) -> float:
        """Rows fetched per second since following began."""
        fetched = job.records_fetched
        if self.first_records is None:
            self.first_records = fetched
        elapsed = now - self.started
        return (fetched - self.first_records) / elapsed if elapsed > 0 else 0.0

    @staticmethod
    def eta(job: BackfillJob, elapsed: float, done_at_start: int) -> float | None:
        """Seconds left at the current chunk pace (``None`` before the first chunk)."""
        done = job.chunks_done - done_at_start
        left = job.chunks_total - job.chunks_done
        return elapsed / done * left if done > 0 and elapsed > 0 else None


def describe(job: BackfillJob) -> str:
    """``#12 BTCUSDT candles 1m`` — a job's identity in one short string."""
    series = " ".join(part for part in (job.symbol, job.data_type, job.timeframe) if part)
    return f"#{job.id} {series}"


def span(job: BackfillJob) -> str:
    """``[2024-01-01T00:00:00Z, 2024-02-01T00:00:00Z)`` — a job's range."""

    def iso(value: datetime) -> str:
        return value.isoformat().replace("+00:00", "Z")

    return f"[{iso(job.start_time)}, {iso(job.end_time)})"


async def follow(job: BackfillJob, fetch: FetchJob, console: Console, poll: float) -> BackfillJob:
    """Show ``job``'s progress until it ends (a live bar on a terminal, lines otherwise)."""
    started = time.monotonic()
    line = ProgressLine(started)
    done_at_start = job.chunks_done
    if not console.is_terminal:
        return await _follow_lines(job, fetch, console, poll, line, done_at_start)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn("chunks · {task.fields[rows]:,} rows · {task.fields[rate]:,.0f} rows/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(
            describe(job),
            total=job.chunks_total,
            completed=job.chunks_done,
            rows=job.records_fetched,
            rate=0.0,
        )
        while True:
            rate = line.rate(job, time.monotonic())
            bar.update(
                task,
                completed=job.chunks_done,
                rows=job.records_fetched,
                rate=rate,
                description=f"{describe(job)} {job.status}",
            )
            if job.status in FINAL:
                return job
            await asyncio.sleep(poll)
            job = await fetch()


async def _follow_lines(
    job: BackfillJob, fetch: FetchJob, console: Console, poll: float, line: ProgressLine, base: int
) -> BackfillJob:
    shown: tuple[JobStatus, int] | None = None
    while True:
        now = time.monotonic()
        rate = line.rate(job, now)
        state = (job.status, job.chunks_done)
        if state != shown:
            shown = state
            eta = ProgressLine.eta(job, now - line.started, base)
            console.print(
                f"{describe(job)} {job.status}: {job.chunks_done}/{job.chunks_total}"
                f" chunks ({job.progress:.0f}%) · {job.records_fetched:,} rows"
                f" · {rate:,.0f} rows/s · ETA {'-' if eta is None else f'{eta:.0f}s'}",
                highlight=False,
            )
        if job.status in FINAL:
            return job
        await asyncio.sleep(poll)
        job = await fetch()


def summary(job: BackfillJob, seconds: float) -> str:
    """The last line: outcome, counts, time."""
    text = (
        f"{describe(job)} {job.status}: {job.records_fetched:,} rows fetched,"
        f" {job.records_written:,} written, {job.chunks_done}/{job.chunks_total} chunks"
        f" in {seconds:.1f}s"
    )
    return f"{text} — {job.error}" if job.error else text
