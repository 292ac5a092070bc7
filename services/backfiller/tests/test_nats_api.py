"""The backfiller's NATS request/reply against real NATS and PostgreSQL: jobs are created,
merged, read and cancelled; every bad request, and a lost job store, gets an error reply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NatsClient
from petrosa_backfiller.nats_api import event_publisher, serve
from petrosa_common.backfill_jobs import BackfillJob, get_job
from petrosa_common.naming import (
    BACKFILL_CANCEL_SUBJECT,
    BACKFILL_JOBS_GET_SUBJECT,
    BACKFILL_REQUEST_SUBJECT,
    backfill_event_subject,
)
from petrosa_common.nats import connect_nats, sync_with_server
from petrosa_common.postgres import PgPool, apply_migrations, create_pg_pool

pytestmark = pytest.mark.integration
REQUEST = {
    "symbol": "ethusdt",
    "timeframe": "1h",
    "start": "2024-01-01T00:00:00Z",
    "end": "2024-01-08T00:00:00Z",
    "requested_by": "auditor",
}


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NatsClient]:
    client = await connect_nats(nats_url, name="test-backfill-api")
    yield client
    await client.drain()


async def call(nc: NatsClient, subject: str, body: Any) -> dict[str, Any]:
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    reply = await nc.request(subject, payload, timeout=5)
    answer: dict[str, Any] = orjson.loads(reply.data)
    return answer


async def test_request_get_and_cancel_a_job(nc: NatsClient, nats_url: str, pg_pool: PgPool) -> None:
    events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def on_event(msg: Any) -> None:
        await events.put((msg.subject, orjson.loads(msg.data)["job"]))

    await nc.subscribe(backfill_event_subject("*"), cb=on_event)
    server = await connect_nats(nats_url, name="backfiller")
    try:
        await serve(server, pg_pool)
        created = await call(nc, BACKFILL_REQUEST_SUBJECT, REQUEST)
        job = created["job"]
        assert created["created"] is True
        assert (job["symbol"], job["timeframe"], job["status"], job["chunks_total"]) == (
            "ETHUSDT",
            "1h",
            "pending",
            1,
        )
        assert job["requested_by"] == "auditor"
        assert "claimed_by" not in job  # claim internals stay inside
        assert [j["id"] for j in created["jobs"]] == [job["id"]]
        subject, event = await asyncio.wait_for(events.get(), 5)
        assert (subject, event["id"], event["status"]) == (
            backfill_event_subject("pending"),
            job["id"],
            "pending",
        )

        # The same range again, while the job is pending: the same job, never a second one.
        again = await call(nc, BACKFILL_REQUEST_SUBJECT, REQUEST)
        assert (again["created"], again["job"]["id"]) == (False, job["id"])

        fetched = await call(nc, BACKFILL_JOBS_GET_SUBJECT, {"id": job["id"]})
        assert fetched["job"]["id"] == job["id"]
        assert fetched["job"]["start_time"] == "2024-01-01T00:00:00Z"  # UTC, always "...Z"
        assert fetched["job"]["created_at"].endswith("Z")

        cancelled = await call(nc, BACKFILL_CANCEL_SUBJECT, {"id": job["id"]})
        assert cancelled["job"]["status"] == "cancelled"
        subject, event = await asyncio.wait_for(events.get(), 5)
        assert (subject, event["id"]) == (backfill_event_subject("cancelled"), job["id"])
        assert events.empty()  # the merged request created nothing: no second pending event
        stored = await get_job(pg_pool, job["id"])
        assert stored is not None
        assert stored.status == "cancelled"
    finally:
        await server.drain()


@pytest.mark.parametrize(
    ("subject", "body", "error"),
    [
        (BACKFILL_REQUEST_SUBJECT, b"not json", "bad_request"),
        (BACKFILL_REQUEST_SUBJECT, b"", "invalid_parameter"),  # no body, as a bodiless POST
        (BACKFILL_REQUEST_SUBJECT, {**REQUEST, "symbol": "BTC-USDT"}, "invalid_parameter"),
        (BACKFILL_REQUEST_SUBJECT, {**REQUEST, "end": REQUEST["start"]}, "invalid_parameter"),
        (
            BACKFILL_REQUEST_SUBJECT,
            {**REQUEST, "start": "0001-01-01T00:01:00+04:00"},
            "invalid_parameter",
        ),
        (BACKFILL_JOBS_GET_SUBJECT, {"id": 2**63}, "invalid_parameter"),
        (BACKFILL_JOBS_GET_SUBJECT, b"{", "bad_request"),
        (BACKFILL_JOBS_GET_SUBJECT, {"id": "7"}, "invalid_parameter"),
        (BACKFILL_JOBS_GET_SUBJECT, {"id": 7.0}, "invalid_parameter"),
        (BACKFILL_JOBS_GET_SUBJECT, {"id": 987_654}, "not_found"),
        (BACKFILL_JOBS_GET_SUBJECT, {"id": -1}, "not_found"),  # a 64-bit id naming no job
        (BACKFILL_CANCEL_SUBJECT, [1], "invalid_parameter"),
        (BACKFILL_CANCEL_SUBJECT, {"id": 987_654}, "not_found"),
    ],
)
async def test_bad_requests_get_an_error_reply(
    nc: NatsClient, nats_url: str, pg_pool: PgPool, subject: str, body: Any, error: str
) -> None:
    server = await connect_nats(nats_url, name="backfiller")
    try:
        await serve(server, pg_pool)
        answer = await call(nc, subject, body)
        assert answer["error"] == error
        assert answer["detail"]
    finally:
        await server.drain()


async def test_a_lost_job_store_gets_an_unavailable_reply_not_silence(
    nc: NatsClient, nats_url: str, postgres_url: str
) -> None:
    pg = await create_pg_pool(postgres_url)
    await apply_migrations(pg)
    server = await connect_nats(nats_url, name="backfiller")
    try:
        await serve(server, pg)
        await pg.close()  # the job store is gone
        for subject, body in (
            (BACKFILL_REQUEST_SUBJECT, REQUEST),
            (BACKFILL_JOBS_GET_SUBJECT, {"id": 1}),
            (BACKFILL_CANCEL_SUBJECT, {"id": 1}),
        ):
            answer = await call(nc, subject, body)
            assert answer["error"] == "unavailable", subject
            assert "job store" in answer["detail"]
    finally:
        await server.drain()


async def test_job_events_are_published_by_status(nc: NatsClient) -> None:
    received: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def on_event(msg: Any) -> None:
        await received.put((msg.subject, orjson.loads(msg.data)))

    await nc.subscribe(backfill_event_subject("*"), cb=on_event)
    await sync_with_server(nc)
    publish = event_publisher(nc)
    job = BackfillJob.from_row({**JOB_ROW, "claimed_by": "pod-a", "lease_expires_at": None})
    await publish(job)
    subject, body = await asyncio.wait_for(received.get(), 5)
    assert subject == backfill_event_subject("completed")
    assert body == {"job": {**JOB_ROW, "start_time": "2024-01-01T00:00:00Z", **TIMES_Z}}


_AT = datetime(2024, 1, 2, 3, 4, 5, 678_000, tzinfo=timezone(timedelta(hours=2)))
JOB_ROW: dict[str, Any] = {
    "id": 5,
    "symbol": "ETHUSDT",
    "data_type": "candles",
    "timeframe": "1h",
    "start_time": datetime(2024, 1, 1, tzinfo=UTC),
    "end_time": _AT,
    "priority": 0,
    "status": "completed",
    "progress": 100.0,
    "records_fetched": 168,
    "records_written": 168,
    "chunks_done": 1,
    "chunks_total": 1,
    "error": None,
    "attempts": 0,
    "retry_at": None,
    "requested_by": "auditor",
    "details": {"gap_id": 3},
    "created_at": _AT,
    "updated_at": _AT,
    "started_at": _AT,
    "completed_at": _AT,
}
# PostgreSQL hands out times in the session's zone: events carry them in UTC, "...Z".
TIMES_Z = dict.fromkeys(
    ("end_time", "created_at", "updated_at", "started_at", "completed_at"),
    "2024-01-02T01:04:05.678000Z",
)
