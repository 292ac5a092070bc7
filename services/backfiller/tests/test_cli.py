"""``petrosa-backfill``: arguments, errors, and a local run against the fake Binance."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
import structlog
from petrosa_backfiller.cli import (
    CliError,
    Unreachable,
    _nats_call,
    build_parser,
    main,
    parse_time,
    to_request,
)
from petrosa_common.backfill_jobs import JobReply
from petrosa_common.nats import connect_nats
from petrosa_common.postgres import apply_migrations, create_pg_pool
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.processes import ServiceProcess, free_port
from pymongo.asynchronous.database import AsyncDatabase


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """``main`` configures logging for the process: put the test session's back."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**config)
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_dates_are_iso_and_naive_means_utc() -> None:
    assert parse_time("2024-01-01") == datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_time("2024-01-01T12:30:00+02:00") == datetime(2024, 1, 1, 10, 30, tzinfo=UTC)


def test_arguments_become_a_cli_request() -> None:
    args = build_parser().parse_args(
        ["btcusdt", "1m", "--start", "2024-01-01", "--end", "2024-02-01", "--priority", "7"]
    )
    request = to_request(args)
    assert (request.symbol, request.timeframe, request.data_type) == ("BTCUSDT", "1m", "candles")
    assert (request.priority, request.requested_by) == (7, "cli")
    assert request.end == datetime(2024, 2, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["BTCUSDT", "1m", "--start", "2024-02-01", "--end", "2024-01-01"], "end must be after"),
        (["BTCUSDT", "--start", "2024-01-01", "--end", "2024-01-02"], "need a timeframe"),
        (
            ["BTCUSDT", "1m", "--type", "funding", "--start", "2024-01-01", "--end", "2024-01-02"],
            "take no timeframe",
        ),
        (["BTC-USD", "1m", "--start", "2024-01-01", "--end", "2024-01-02"], "Binance symbol"),
    ],
)
def test_invalid_requests_exit_2_with_the_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_bad_date_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["BTCUSDT", "1m", "--start", "yesterday", "--end", "2024-01-02"])
    assert exited.value.code == 2
    assert "not an ISO 8601 date" in capsys.readouterr().err


@pytest.mark.integration
def test_without_a_backfiller_the_cli_says_so(
    nats_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NATS_URL", nats_url)
    assert main(["BTCUSDT", "1h", "--start", "2024-01-01", "--end", "2024-01-02"]) == 2
    assert "no backfiller answers on data_manager.backfill.request" in capsys.readouterr().err


@pytest.mark.integration
async def test_an_unavailable_backfiller_is_waited_for_and_a_refusal_is_an_error(
    nats_url: str,
) -> None:
    nc = await connect_nats(nats_url, name="test-cli")
    replies = {
        "t.cli.unavailable": {"error": "unavailable", "detail": "the job store is unavailable"},
        "t.cli.refused": {"error": "invalid_parameter", "detail": "end must be after start"},
    }
    try:
        for subject, body in replies.items():

            async def respond(msg: Any, body: dict[str, str] = body) -> None:
                await msg.respond(orjson.dumps(body))

            await nc.subscribe(subject, cb=respond)
        # Unreachable: following goes on through a backfiller's database outage.
        with pytest.raises(Unreachable, match="job store is unavailable"):
            await _nats_call(nc, "t.cli.unavailable", b"{}", JobReply)
        with pytest.raises(CliError, match="invalid_parameter: end must be after start") as refused:
            await _nats_call(nc, "t.cli.refused", b"{}", JobReply)
        assert not isinstance(refused.value, Unreachable)
    finally:
        await nc.drain()


@pytest.fixture
def local_environment(
    infra_urls: InfraUrls,
    mongo_db: AsyncDatabase[dict[str, Any]],
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """A fake Binance process and the variables ``--local`` reads; yields its base URL."""
    port = free_port()
    fake = ServiceProcess(
        [sys.executable, "-m", "petrosa_sim", "binance", "--port", str(port)],
        {},
        tmp_path / "fake.log",
    ).start()
    try:
        fake.wait_until(lambda: _answers(port), timeout=30)
        for name, value in {
            "POSTGRES_URL": postgres_url,
            "MONGODB_URL": infra_urls.mongodb_url,
            "MONGODB_DATABASE": mongo_db.name,
            "BINANCE_FAPI_BASE_URL": f"http://127.0.0.1:{port}",
        }.items():
            monkeypatch.setenv(name, value)
        yield f"http://127.0.0.1:{port}"
    finally:
        fake.stop()


@pytest.mark.integration
@pytest.mark.usefixtures("local_environment")
def test_local_run_backfills_and_prints_progress_and_summary(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["ETHUSDT", "15m", "--start", "2024-01-01", "--end", "2024-02-01", "--local"]
    assert main([*argv, "--poll", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "created #1 ETHUSDT candles 15m [2024-01-01T00:00:00Z, 2024-02-01T00:00:00Z)" in out
    assert "#1 ETHUSDT candles 15m completed: 2,976 rows fetched, 2,976 written, 2/2 chunks" in out
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT status, requested_by, claimed_by FROM backfill_jobs").fetchone()
    assert row is not None
    assert row[:2] == ("completed", "cli")
    assert str(row[2]).startswith("cli:")


@pytest.mark.integration
@pytest.mark.usefixtures("local_environment")
def test_a_request_around_a_started_job_runs_every_job_that_covers_it(
    postgres_url: str,
    mongo_db: AsyncDatabase[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # February 1-3 (two chunks of 1m) was queued earlier and has its first chunk done (it was
    # given back at a shutdown): it must neither be widened nor fetched again.
    asyncio.run(migrate(postgres_url))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO backfill_jobs (symbol, data_type, timeframe, start_time, end_time,"
            " chunks_total, chunks_done, progress, requested_by) VALUES ('BNBUSDT', 'candles',"
            " '1m', '2024-02-01T00:00Z', '2024-02-03T00:00Z', 2, 1, 50, 'cli')"
        )
    argv = ["BNBUSDT", "1m", "--start", "2024-01-31", "--end", "2024-02-04", "--local"]
    assert main([*argv, "--poll", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "created #2 BNBUSDT candles 1m [2024-01-31T00:00:00Z, 2024-02-01T00:00:00Z)" in out
    assert "the request is covered by 3 jobs" in out
    for line in (
        "#2 BNBUSDT candles 1m completed: 1,440 rows fetched",
        "#1 BNBUSDT candles 1m completed: 1,380 rows fetched",  # only its second chunk
        "#3 BNBUSDT candles 1m completed: 1,440 rows fetched",
    ):
        assert line in out, out
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT id, status FROM backfill_jobs ORDER BY id").fetchall()
    assert rows == [(1, "completed"), (2, "completed"), (3, "completed")]


@pytest.mark.integration
def test_a_local_run_retries_here_after_binance_was_unavailable(
    local_environment: str,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Every request fails with 503 until the client gives up on the first chunk (5 attempts):
    # the job goes back to the queue with a back-off, and the CLI must try again by itself.
    monkeypatch.setenv("BACKFILL_RETRY_INITIAL_SECONDS", "0.5")
    fake = httpx.Client(base_url=local_environment, timeout=5)
    fake.post("/_fake/faults", json={"status_5xx_rate": 1.0}).raise_for_status()

    def heal_after_the_first_failed_attempt() -> None:
        deadline = time.monotonic() + 60
        while fake.get("/_fake/stats").json()["injected"]["5xx"] < 5:
            assert time.monotonic() < deadline, "the client never gave up on the chunk"
            time.sleep(0.05)
        fake.post("/_fake/faults", json={"status_5xx_rate": 0.0}).raise_for_status()

    healer = threading.Thread(target=heal_after_the_first_failed_attempt, daemon=True)
    healer.start()
    argv = ["SOLUSDT", "1h", "--start", "2024-01-01", "--end", "2024-01-08", "--local"]
    try:
        assert main([*argv, "--poll", "0.1"]) == 0
    finally:
        healer.join(timeout=60)
        fake.close()
    out = capsys.readouterr().out
    assert "#1 SOLUSDT candles 1h: retrying after: Binance /fapi/v1/klines unavailable" in out
    assert "#1 SOLUSDT candles 1h completed: 168 rows fetched, 168 written, 1/1 chunks" in out
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT status, attempts FROM backfill_jobs").fetchone()
    assert row == ("completed", 0)  # the checkpoint reset the count of failed attempts


async def migrate(postgres_url: str) -> None:
    pool = await create_pg_pool(postgres_url)
    try:
        await apply_migrations(pool)
    finally:
        await pool.close()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/fapi/v1/ping", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
