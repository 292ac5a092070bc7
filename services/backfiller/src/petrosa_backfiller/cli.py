"""``petrosa-backfill``: submit a backfill (or run it here) and follow it with a progress bar.

    petrosa-backfill BTCUSDT 1m --start 2024-01-01 --end 2024-02-01

By default the request goes to the running backfillers over NATS
(``data_manager.backfill.request``) and the job is followed on
``data_manager.backfill.jobs.get``. ``--local`` runs the job in this process instead (needs
PostgreSQL, MongoDB and Binance, no NATS). Connection settings come from the same
environment variables as the service (``NATS_URL``, ``POSTGRES_URL``, ``MONGODB_URL``,
``BINANCE_FAPI_BASE_URL``, ...).

A request overlapping jobs already queued or running is covered by those and by new jobs for
the rest (never fetched twice); the CLI follows them all, one after the other.

A local run that meets a transient failure (Binance or a database unavailable) retries here
after the job's back-off (``BACKFILL_RETRY_INITIAL_SECONDS``, doubling up to
``BACKFILL_RETRY_MAX_SECONDS``), from its checkpoint, until the job ends.

Exit status: 0 every job completed, 1 a job failed or was cancelled, 2 bad arguments or
nothing to talk to, 130 interrupted (a followed job keeps running; a local one goes back to
the queue).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, get_args

import orjson
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from petrosa_common.backfill_jobs import (
    BackfillJob,
    BackfillRequest,
    DataType,
    JobReply,
    JobStatus,
    StartedJob,
    get_job,
    submit,
)
from petrosa_common.cli import command_line
from petrosa_common.errors import ErrorCode
from petrosa_common.logging import configure_logging
from petrosa_common.mongo import create_mongo_client
from petrosa_common.naming import BACKFILL_JOBS_GET_SUBJECT, BACKFILL_REQUEST_SUBJECT
from petrosa_common.nats import connect_nats
from petrosa_common.postgres import PgPool, apply_migrations, create_pg_pool
from pydantic import BaseModel, ValidationError
from rich.console import Console

from petrosa_backfiller.progress import describe, follow, span, summary
from petrosa_backfiller.settings import BackfillerSettings
from petrosa_backfiller.worker import JobRunner

NATS_TIMEOUT_SECONDS = 5.0
Reply = TypeVar("Reply", bound=BaseModel)


class CliError(Exception):
    """A problem worth one line on stderr and exit status 2."""


class Unreachable(CliError):
    """Nobody answered on a NATS subject."""


def parse_time(text: str) -> datetime:
    """``2024-01-01``, ``2024-01-01T12:00`` or a full ISO 8601 time; naive means UTC."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``petrosa-backfill``."""
    parser = command_line(
        "petrosa-backfill",
        description="Backfill a series from Binance USDⓈ-M futures REST and follow its progress."
        " Times are ISO 8601 (UTC unless an offset is given); the range is [start, end).",
        distribution="petrosa-backfiller",
        settings=BackfillerSettings,
    )
    parser.add_argument("symbol", help="Binance symbol, e.g. BTCUSDT")
    parser.add_argument(
        "timeframe",
        nargs="?",
        help="candle interval (candles, mark_price), e.g. 1m; omitted for agg_trades, funding",
    )
    parser.add_argument("--start", required=True, type=parse_time, help="first time (inclusive)")
    parser.add_argument("--end", required=True, type=parse_time, help="last time (exclusive)")
    parser.add_argument(
        "--type",
        dest="data_type",
        choices=get_args(DataType),
        default="candles",
        help="what to backfill (default: candles)",
    )
    parser.add_argument("--priority", type=int, default=5, help="0-10, higher runs first")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--local",
        action="store_true",
        help="run the job in this process (PostgreSQL, MongoDB, Binance; no NATS)",
    )
    mode.add_argument(
        "--detach", action="store_true", help="submit, print the job as JSON and exit"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show the job runner's logs on stderr"
    )
    parser.add_argument(
        "--unreachable-timeout",
        type=float,
        default=120.0,
        help="seconds to keep following while no backfiller answers (default 120)",
    )
    parser.add_argument(
        "--poll", type=float, default=0.5, help="seconds between progress updates (default 0.5)"
    )
    return parser


def to_request(args: argparse.Namespace) -> BackfillRequest:
    """The validated request of the parsed arguments (``CliError`` when invalid)."""
    try:
        return BackfillRequest(
            symbol=args.symbol,
            data_type=args.data_type,
            timeframe=args.timeframe,
            start=args.start,
            end=args.end,
            priority=args.priority,
            requested_by="cli",
        )
    except ValidationError as exc:
        problems = "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())
        raise CliError(problems) from exc


async def _nats_call(nc: Any, subject: str, payload: bytes, reply_type: type[Reply]) -> Reply:
    """The reply to ``payload`` on ``subject`` as ``reply_type``; an error reply raises
    (``unavailable``: :class:`Unreachable`, the backfiller will answer again)."""
    try:
        reply = await nc.request(subject, payload, timeout=NATS_TIMEOUT_SECONDS)
    except NoRespondersError as exc:
        raise Unreachable(
            f"no backfiller answers on {subject} (is petrosa-backfiller running?)"
        ) from exc
    except NatsTimeoutError as exc:
        raise Unreachable(f"no answer on {subject} within {NATS_TIMEOUT_SECONDS:.0f}s") from exc
    body = orjson.loads(reply.data)
    if isinstance(body, dict) and "error" in body:  # codes read as text: any version's reply
        if body["error"] == ErrorCode.UNAVAILABLE:  # the backfiller lost its database for now
            raise Unreachable(str(body.get("detail", "the backfiller is unavailable")))
        raise CliError(f"{body['error']}: {body.get('detail', '')}")
    return reply_type.model_validate(body)


async def submit_and_follow(
    request: BackfillRequest, settings: BackfillerSettings, console: Console, args: Any
) -> list[BackfillJob]:
    """Submit over NATS, then follow every job covering the request, one after the other (or
    print the reply and return with ``--detach``)."""
    try:
        nc = await connect_nats(settings.nats_url, name="petrosa-backfill")
    except Exception as exc:
        raise CliError(f"cannot reach NATS at {settings.nats_url}: {exc}") from exc
    try:
        payload = request.model_dump_json().encode()
        started = await _nats_call(nc, BACKFILL_REQUEST_SUBJECT, payload, StartedJob)
        jobs = started.jobs or [started.job]
        if args.detach:
            console.print_json(started.model_dump_json())
            return jobs
        _announce(console, started.job, started.created, jobs, "submitted")
        return [await _follow_over_nats(nc, job, console, args) for job in jobs]
    finally:
        with contextlib.suppress(Exception):
            await nc.drain()


def _announce(
    console: Console, job: BackfillJob, created: bool, jobs: list[BackfillJob], verb: str
) -> None:
    verb = verb if created else "joined the matching job"
    console.print(f"{verb} {describe(job)} {span(job)}", highlight=False)
    if len(jobs) > 1:
        parts = ", ".join(f"{describe(other)} {span(other)}" for other in jobs)
        console.print(f"the request is covered by {len(jobs)} jobs: {parts}", highlight=False)


async def _follow_over_nats(nc: Any, job: BackfillJob, console: Console, args: Any) -> BackfillJob:
    last = job
    unreachable_since: float | None = None

    async def fetch() -> BackfillJob:
        # Backfillers may restart while a job runs (it resumes from its checkpoint):
        # keep showing the last state until one answers again, for a while.
        nonlocal last, unreachable_since
        payload = orjson.dumps({"id": job.id})
        try:
            reply = await _nats_call(nc, BACKFILL_JOBS_GET_SUBJECT, payload, JobReply)
        except Unreachable as exc:
            now = time.monotonic()
            if unreachable_since is None:
                unreachable_since = now
                console.print(f"[yellow]{exc}; still waiting…[/yellow]")
            if now - unreachable_since > args.unreachable_timeout:
                raise
            return last
        unreachable_since = None
        last = reply.job
        return last

    return await follow(job, fetch, console, args.poll)


async def run_locally(
    request: BackfillRequest, settings: BackfillerSettings, console: Console, poll: float
) -> list[BackfillJob]:
    """Create the job(s) and run every job covering the request in this process, one after
    the other (following instead any that a backfiller holds)."""
    try:
        pool = await create_pg_pool(settings.postgres_url, min_size=1, max_size=4)
    except Exception as exc:
        raise CliError(f"cannot reach PostgreSQL: {exc}") from exc
    mongo = create_mongo_client(settings.mongodb_url, app_name="petrosa-backfill")
    client = settings.binance_client()
    try:
        await apply_migrations(pool)
        submission = await submit(pool, request)
        jobs = submission.jobs
        _announce(console, submission.job, bool(submission.created), jobs, "created")
        runner = JobRunner(
            pool=pool,
            db=mongo[settings.mongodb_database],
            client=client,
            worker_id=f"cli:{settings.pod_id}",
            lease_seconds=settings.backfill_claim_lease_seconds,
            backoff=settings.job_backoff(),
        )
        return [await _run_here(pool, runner, each, console, poll) for each in jobs]
    finally:
        await client.aclose()
        await mongo.close()
        await pool.close()


async def _run_here(
    pool: PgPool, runner: JobRunner, job: BackfillJob, console: Console, poll: float
) -> BackfillJob:
    stop = asyncio.Event()
    work = asyncio.create_task(_run_until_it_ends(pool, runner, job.id, stop, console, poll))

    async def fetch() -> BackfillJob:
        if work.done() and (failure := work.exception()) is not None:
            raise CliError(
                f"job {job.id} stopped here: {failure}"
                " (it resumes from its checkpoint once its claim expires)"
            )
        current = await get_job(pool, job.id)
        if current is None:
            raise CliError(f"job {job.id} disappeared")
        return current

    try:
        return await follow(job, fetch, console, poll)
    finally:
        stop.set()  # on interruption the runner gives the job back after its chunk
        with contextlib.suppress(Exception):  # already reported through fetch()
            await work


async def _run_until_it_ends(
    pool: PgPool, runner: JobRunner, job_id: int, stop: asyncio.Event, console: Console, poll: float
) -> None:
    """Run the job here and, each time a transient failure gives it back to the queue, again
    after its back-off; return once it ended, another worker holds it (it is followed then), or
    ``stop``."""
    while not stop.is_set():
        await runner.run_next(stop, job_id=job_id)
        current = await get_job(pool, job_id)
        if current is None or current.status != JobStatus.PENDING or stop.is_set():
            return
        retry_at = current.retry_at
        wait = max(poll, (retry_at - datetime.now(UTC)).total_seconds()) if retry_at else poll
        console.print(f"{describe(current)}: {current.error}; next attempt in {wait:.1f}s")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``petrosa-backfill``; returns the exit status."""
    args = build_parser().parse_args(argv)
    console = Console(stderr=False, soft_wrap=True)
    errors = Console(stderr=True, soft_wrap=True)
    level = "INFO" if args.verbose else "WARNING"
    configure_logging("petrosa-backfill", level, sys.stderr, cache_loggers=False)
    try:
        request = to_request(args)
        settings = BackfillerSettings()
    except (CliError, ValidationError) as exc:
        errors.print(f"petrosa-backfill: {exc}", highlight=False)
        return 2
    began = time.monotonic()
    try:
        if args.local:
            jobs = asyncio.run(run_locally(request, settings, console, args.poll))
        else:
            jobs = asyncio.run(submit_and_follow(request, settings, console, args))
            if args.detach:
                return 0
    except CliError as exc:
        errors.print(f"petrosa-backfill: {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        errors.print("interrupted: the job goes on in the backfillers (or back to the queue)")
        return 130
    elapsed = time.monotonic() - began
    for job in jobs:
        console.print(summary(job, elapsed), highlight=False)
    return 0 if all(job.status == JobStatus.COMPLETED for job in jobs) else 1


def entry_point() -> None:
    """Console script."""
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
