"""End to end with processes: the fake Binance, backfillers, the ``petrosa-backfill`` CLI, the
ingestor and the auditor, over real NATS, PostgreSQL and FerretDB."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from petrosa_common.backfill_jobs import chunk_plan
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.processes import ServiceProcess
from pymongo.asynchronous.database import AsyncDatabase

from .audit_support import gapped_kline_frames, run_auditor_once
from .backfill_support import backfiller_process, fake_binance_process, http_get
from .ingest_support import ingest_all

pytestmark = pytest.mark.e2e
MINUTE = 60_000
JAN = datetime(2024, 1, 1, tzinfo=UTC)


def job_row(postgres_url: str) -> dict[str, Any] | None:
    with psycopg.connect(postgres_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT * FROM backfill_jobs ORDER BY id LIMIT 1").fetchone()


def wait_for(predicate: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.timeout(420)
async def test_a_job_survives_kill_9_resumes_from_its_checkpoint_and_the_cli_follows_it(
    own_nats_infra: InfraUrls,
    mongo_db: AsyncDatabase[dict[str, Any]],
    postgres_url: str,
    tmp_path: Path,
) -> None:
    fake, binance_url = fake_binance_process(tmp_path / "fake.log", "--latency-ms", "150")

    def backfiller(pod: str) -> ServiceProcess:
        return backfiller_process(
            own_nats_infra,
            database=mongo_db.name,
            postgres_url=postgres_url,
            binance_url=binance_url,
            log=tmp_path / f"{pod}.log",
            POD_ID=pod,
            BACKFILL_CLAIM_LEASE_SECONDS="2",
        )

    first = backfiller("backfiller-a").start()
    second: ServiceProcess | None = None
    cli_log = tmp_path / "cli.log"
    try:
        first.wait_ready()
        command = [sys.executable, "-m", "petrosa_backfiller.cli", "BTCUSDT", "1m"]
        command += ["--start", "2024-01-01", "--end", "2024-01-31", "--poll", "0.2"]
        cli = ServiceProcess(
            command,
            {"NATS_URL": own_nats_infra.nats_url},
            cli_log,
        ).start()
        assert cli.process is not None
        try:

            def some_chunks_done() -> bool:
                job = job_row(postgres_url)
                return job is not None and job["chunks_done"] >= 6

            await asyncio.to_thread(wait_for, some_chunks_done, "6 chunks", 120)
            first.kill9()
            killed = job_row(postgres_url)
            assert killed is not None
            assert killed["status"] == "running"
            assert killed["claimed_by"].startswith("backfiller-a/")  # one of its workers
            checkpointed = killed["chunks_done"]
            assert checkpointed < killed["chunks_total"] == 29
            await asyncio.sleep(1.0)  # the CLI now finds nobody answering
            second = backfiller("backfiller-b").start()
            exit_code = await asyncio.to_thread(cli.process.wait, 240)
        finally:
            if cli.running:
                cli.kill9()
        output = cli_log.read_text()
        assert exit_code == 0, output
        # It kept following through the restart: nobody answered (no responders, or a request
        # that reached the killed process before the server noticed and timed out), it waited.
        assert "still waiting" in output
        assert "completed: 4" in output  # "#1 BTCUSDT candles 1m completed: 4x,xxx rows ..."
        requests = http_get(binance_url, "/_fake/requests")
        assert second is not None
        metrics = http_get(f"http://127.0.0.1:{second.env['METRICS_PORT']}", "/metrics")
    finally:
        for process in (first, second):
            if process is not None and process.running:
                process.stop()
        fake.stop()

    job = job_row(postgres_url)
    assert job is not None
    assert (job["status"], job["chunks_done"]) == ("completed", 29)
    assert job["claimed_by"].startswith("backfiller-b/")
    # A chunk written but not yet checkpointed at the kill is written again (nothing new):
    # the count of new documents may miss it, never counts it twice.
    assert 43_200 - 1_500 <= job["records_written"] <= 43_200
    assert await mongo_db["candles_BTCUSDT_1m"].count_documents({}) == 43_200
    ids = await mongo_db["candles_BTCUSDT_1m"].distinct("_id")
    assert len(ids) == 43_200

    # Completed chunks were never fetched again; at most the one in flight at the kill was.
    plan = chunk_plan("candles", "1m", JAN, JAN + timedelta(days=30))
    starts = [int(plan.chunk(i)[0].timestamp() * 1000) for i in range(plan.total)]
    served = Counter(
        int(entry["params"]["startTime"])
        for entry in requests
        if entry["path"] == "/fapi/v1/klines" and entry["status"] == 200
    )
    assert set(served) == set(starts)
    for index, start in enumerate(starts):
        if index < checkpointed:
            assert served[start] == 1, f"chunk {index} was fetched {served[start]} times"
    assert sum(served.values()) <= plan.total + 1

    # The resuming backfiller's metrics tell the same story.
    resumed_chunks = plan.total - checkpointed
    assert 'data_manager_backfill_jobs_total{data_type="candles",status="completed"} 1.0' in metrics
    assert (
        f'data_manager_backfill_chunks_total{{data_type="candles"}} {resumed_chunks}.0' in metrics
    )
    assert 'data_manager_binance_requests_total{endpoint="/fapi/v1/klines",status="200"}' in metrics
    assert "data_manager_binance_used_weight_1m " in metrics
    assert "data_manager_backfill_jobs_running 0.0" in metrics


@pytest.mark.timeout(300)
async def test_a_gap_in_live_data_is_backfilled_and_the_auditor_then_reports_no_gap(
    own_nats_infra: InfraUrls,
    mongo_db: AsyncDatabase[dict[str, Any]],
    postgres_url: str,
    subject_prefix: str,
    tmp_path: Path,
) -> None:
    frames, gap_a, gap_b = gapped_kline_frames(int(time.time() * 1000))
    await ingest_all(
        (f.payload for f in frames),
        len(frames),
        infra=own_nats_infra,
        database=mongo_db.name,
        postgres_url=postgres_url,
        prefix=subject_prefix,
        log=tmp_path / "ingestor.log",
    )
    candles = mongo_db["candles_BTCUSDT_1m"]
    assert await candles.count_documents({"source": "backfill"}) == 0

    def audit_log(cycle: int) -> Path:
        return tmp_path / f"auditor-{cycle}.log"

    fake, binance_url = fake_binance_process(tmp_path / "fake.log")
    backfiller = backfiller_process(
        own_nats_infra,
        database=mongo_db.name,
        postgres_url=postgres_url,
        binance_url=binance_url,
        log=tmp_path / "backfiller.log",
    )
    backfiller.start()
    try:
        backfiller.wait_ready()
        await run_auditor_once(
            own_nats_infra, database=mongo_db.name, postgres_url=postgres_url, log=audit_log(1)
        )

        def jobs_completed() -> bool:
            with psycopg.connect(postgres_url) as conn:
                statuses = [
                    row[0] for row in conn.execute("SELECT status FROM backfill_jobs").fetchall()
                ]
            return len(statuses) == 2 and all(status == "completed" for status in statuses)

        await asyncio.to_thread(wait_for, jobs_completed, "both backfills", 120)
    finally:
        backfiller.stop()
        fake.stop()

    for window, missing in ((gap_a, 15), (gap_b, 10)):
        filled = await candles.count_documents(
            {
                "timestamp": {
                    "$gte": datetime.fromtimestamp(window.start_ms / 1000, tz=UTC),
                    "$lt": datetime.fromtimestamp(window.end_ms / 1000, tz=UTC),
                },
                "source": "backfill",
            }
        )
        assert filled == missing
    with psycopg.connect(postgres_url) as conn:
        requested_by = conn.execute("SELECT DISTINCT requested_by FROM backfill_jobs").fetchall()
    assert requested_by == [("auditor",)]

    await run_auditor_once(
        own_nats_infra, database=mongo_db.name, postgres_url=postgres_url, log=audit_log(2)
    )
    with psycopg.connect(postgres_url) as conn:
        last_cycle = conn.execute(
            "SELECT gaps FROM audit_cycles ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        gap_states = conn.execute(
            "SELECT status, resolved_at IS NOT NULL FROM audit_gaps ORDER BY gap_start"
        ).fetchall()
        health = conn.execute(
            "SELECT gaps, completeness FROM health_metrics ORDER BY timestamp DESC LIMIT 1"
        ).fetchone()
    assert last_cycle == (0,)
    assert gap_states == [("resolved", True), ("resolved", True)]
    assert health is not None
    assert health[0] == 0
    assert health[1] == pytest.approx(100.0, abs=1.0)
