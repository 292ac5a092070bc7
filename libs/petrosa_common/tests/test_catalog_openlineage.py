"""OpenLineage RunEvents reach a real NATS subscriber and a local HTTP endpoint."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import nats
import pytest
from petrosa_common.openlineage_emitter import (
    OpenLineageSettings,
    RunEmitter,
    RunState,
    run_id_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def http_sink() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """A local lineage endpoint recording ``(path, body)`` of every POST."""
    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append((self.path, json.loads(self.rfile.read(length))))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


async def test_off_by_default_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENLINEAGE_URL", "OPENLINEAGE_NATS_SUBJECT"):
        monkeypatch.delenv(name, raising=False)
    emitter = RunEmitter.from_env()
    assert not emitter.enabled
    await emitter.emit(RunState.START, run_id=run_id_for("x"), job="j")  # no destination: no-op


async def test_run_events_are_published_on_nats(nats_url: str, subject_prefix: str) -> None:
    subject = f"{subject_prefix}.openlineage"
    client = await nats.connect(nats_url)
    try:
        subscription = await client.subscribe(subject)
        await client.flush()
        emitter = RunEmitter(OpenLineageSettings(nats_subject=subject, nats_url=nats_url))
        run_id = run_id_for("backfill-job-42")
        await emitter.emit(
            RunState.START,
            run_id=run_id,
            job="backfill.candles",
            inputs=[("binance-rest", "/fapi/v1/klines")],
        )
        await emitter.emit(
            RunState.FAIL,
            run_id=run_id,
            job="backfill.candles",
            outputs=["candles_BTCUSDT_1m"],
            error="Binance: invalid symbol",
        )
        await emitter.close()
        start = json.loads((await subscription.next_msg(timeout=5)).data)
        fail = json.loads((await subscription.next_msg(timeout=5)).data)
    finally:
        await client.close()
    assert start["eventType"] == "START"
    assert start["run"]["runId"] == run_id == fail["run"]["runId"]
    assert start["job"] == {
        "namespace": "petrosa-data-manager",
        "name": "backfill.candles",
        "facets": {},
    }
    assert start["inputs"][0]["namespace"] == "binance-rest"
    assert start["inputs"][0]["name"] == "/fapi/v1/klines"
    assert fail["eventType"] == "FAIL"
    assert fail["outputs"][0]["name"] == "candles_BTCUSDT_1m"
    assert fail["run"]["facets"]["errorMessage"]["message"] == "Binance: invalid symbol"
    assert start["schemaURL"].endswith("#/$defs/RunEvent")


async def test_run_events_are_posted_over_http(
    http_sink: tuple[str, list[tuple[str, dict[str, Any]]]],
) -> None:
    url, received = http_sink
    emitter = RunEmitter(OpenLineageSettings(url=url))
    await emitter.emit(RunState.START, run_id=run_id_for("cycle"), job="analytics.cycle")
    await emitter.emit(
        RunState.COMPLETE,
        run_id=run_id_for("cycle"),
        job="analytics.cycle",
        inputs=[("petrosa-data-manager", "candles_BTCUSDT_1h")],
        outputs=["analytics_volatility"],
    )
    assert [(path, body["eventType"]) for path, body in received] == [
        ("/api/v1/lineage", "START"),
        ("/api/v1/lineage", "COMPLETE"),
    ]
    assert received[1][1]["outputs"][0]["name"] == "analytics_volatility"


async def test_a_backend_that_is_down_never_fails_the_run() -> None:
    emitter = RunEmitter(OpenLineageSettings(url="http://127.0.0.1:9", timeout_seconds=1))
    await asyncio.wait_for(emitter.emit(RunState.START, run_id=run_id_for("x"), job="j"), 10)
