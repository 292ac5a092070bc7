"""/backfill/* against a real PostgreSQL job table."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NatsClient
from petrosa_common.backfill_jobs import BackfillJob, JobStatus, claim_next
from petrosa_common.errors import ErrorCode
from petrosa_common.naming import backfill_event_subject
from petrosa_common.nats import connect_nats, sync_with_server
from petrosa_gateway.errors import BadRequest, InvalidParameter, NotFound, Unavailable

from .conftest import READ_KEY, WRITE_KEY, Gateway, auth

pytestmark = pytest.mark.integration
W = auth(WRITE_KEY)
BODY = {
    "symbol": "BTCUSDT",
    "data_type": "candles",
    "timeframe": "1m",
    "start": "2024-01-01T00:00:00Z",
    "end": "2024-01-31T00:00:00Z",
    "priority": 3,
}


async def wait_for_nats(gateway: Gateway) -> NatsClient:
    for _ in range(100):
        if gateway.resources.nats is not None and gateway.resources.nats.is_connected:
            return gateway.resources.nats
        await asyncio.sleep(0.05)
    raise AssertionError("the gateway did not connect to NATS")


async def test_start_list_get_cancel(gateway: Gateway, nats_url: str) -> None:
    await wait_for_nats(gateway)
    events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
    listener = await connect_nats(nats_url, name="test-events")

    async def on_event(msg: Any) -> None:
        await events.put((msg.subject, orjson.loads(msg.data)["job"]))

    await listener.subscribe(backfill_event_subject("*"), cb=on_event)
    await sync_with_server(listener)
    try:
        started = await gateway.client.post("/backfill/start", json=BODY, headers=W)
        assert started.status_code == 202, started.text
        job = started.json()["job"]
        assert started.json()["created"] is True
        assert (job["status"], job["chunks_total"], job["requested_by"]) == ("pending", 29, "api")
        assert (job["attempts"], job["retry_at"]) == (0, None)
        assert [j["id"] for j in started.json()["jobs"]] == [job["id"]]
        subject, event = await asyncio.wait_for(events.get(), 5)
        assert (subject, event["id"]) == (backfill_event_subject("pending"), job["id"])
        again = await gateway.client.post(
            "/backfill/start", json={**BODY, "start": "2024-01-10T00:00:00Z"}, headers=W
        )
        assert (again.json()["created"], again.json()["job"]["id"]) == (False, job["id"])
        assert [j["id"] for j in again.json()["jobs"]] == [job["id"]]

        listed = (
            await gateway.client.get("/backfill/jobs", params={"status": "pending"}, headers=W)
        ).json()
        assert [j["id"] for j in listed["data"]] == [job["id"]]
        assert listed["pagination"]["total"] == 1
        one = await gateway.client.get(f"/backfill/jobs/{job['id']}", headers=W)
        assert one.json()["symbol"] == "BTCUSDT"
        cancelled = await gateway.client.post(f"/backfill/jobs/{job['id']}/cancel", headers=W)
        assert cancelled.json()["status"] == "cancelled"
        subject, event = await asyncio.wait_for(events.get(), 5)
        assert (subject, event["status"]) == (backfill_event_subject("cancelled"), "cancelled")
        # Cancelling a job that already ended changes nothing and announces nothing.
        await gateway.client.post(f"/backfill/jobs/{job['id']}/cancel", headers=W)
        await sync_with_server(listener)
        await asyncio.sleep(0.2)
        assert events.empty()
    finally:
        await listener.drain()
    assert (await gateway.client.get("/backfill/jobs/999999", headers=W)).status_code == 404
    assert (await gateway.client.post("/backfill/jobs/999999/cancel", headers=W)).status_code == 404


async def test_a_request_wider_than_a_running_job_queues_only_the_rest(gateway: Gateway) -> None:
    first = (await gateway.client.post("/backfill/start", json=BODY, headers=W)).json()["job"]
    claimed = await claim_next(gateway.resources.pg, worker="backfiller/1", lease_seconds=60)
    assert claimed is not None
    assert claimed.id == first["id"]
    wider = await gateway.client.post(
        "/backfill/start", json={**BODY, "end": "2024-03-01T00:00:00Z"}, headers=W
    )
    body = wider.json()
    assert (wider.status_code, body["created"]) == (202, True)
    assert (body["job"]["start_time"], body["job"]["end_time"]) == (
        "2024-01-31T00:00:00Z",
        "2024-03-01T00:00:00Z",
    )
    assert [j["id"] for j in body["jobs"]] == [first["id"], body["job"]["id"]]
    assert body["jobs"][0]["status"] == "running"


@pytest.mark.parametrize(
    "body",
    [
        {**BODY, "symbol": "BTC-USDT"},
        {**BODY, "timeframe": "7m"},
        {**BODY, "end": "2023-12-01T00:00:00Z"},
        {**BODY, "start": "2999-01-01T00:00:00Z", "end": "2999-02-01T00:00:00Z"},
        {**BODY, "data_type": "orders"},
        {k: v for k, v in BODY.items() if k != "start"},
    ],
)
async def test_bad_requests_are_422(gateway: Gateway, body: dict[str, object]) -> None:
    response = await gateway.client.post("/backfill/start", json=body, headers=W)
    assert response.status_code == 422
    assert response.json()["error"] == ErrorCode.INVALID_PARAMETER


def test_the_gateway_errors_of_the_backfill_routes_use_the_shared_vocabulary() -> None:
    # The gateway maps codes to statuses in errors.py/app.py; the backfiller answers the same
    # codes over NATS (tests/test_backfill_error_codes.py sends both the same requests).
    assert (BadRequest.code, BadRequest.status) == (ErrorCode.BAD_REQUEST, 400)
    assert (InvalidParameter.code, InvalidParameter.status) == (ErrorCode.INVALID_PARAMETER, 422)
    assert (NotFound.code, NotFound.status) == (ErrorCode.NOT_FOUND, 404)
    assert (Unavailable.code, Unavailable.status) == (ErrorCode.UNAVAILABLE, 503)


async def test_jobs_are_typed_and_times_are_utc_z(gateway: Gateway) -> None:
    started = await gateway.client.post("/backfill/start", json=BODY, headers=W)
    job = started.json()["job"]
    assert set(job) == set(BackfillJob.model_fields)  # every column, no claim internals
    assert (job["start_time"], job["end_time"]) == ("2024-01-01T00:00:00Z", "2024-01-31T00:00:00Z")
    assert job["created_at"].endswith("Z")
    listed = (await gateway.client.get("/backfill/jobs", headers=W)).json()["data"]
    one = (await gateway.client.get(f"/backfill/jobs/{job['id']}", headers=W)).json()
    assert listed == [one] == [job]
    assert BackfillJob.model_validate(one).status is JobStatus.PENDING
    refused = await gateway.client.get("/backfill/jobs", params={"status": "done"}, headers=W)
    assert (refused.status_code, refused.json()["error"]) == (422, "invalid_parameter")


async def test_backfill_needs_the_write_scope(gateway: Gateway) -> None:
    assert (await gateway.client.get("/backfill/jobs")).status_code == 401
    assert (await gateway.client.get("/backfill/jobs", headers=auth(READ_KEY))).status_code == 403
