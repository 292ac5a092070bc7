"""One error vocabulary for backfill requests: the same bad request gets the same code from
the gateway's REST API (``/backfill/*``) and from the backfiller's NATS API
(``data_manager.backfill.*``), codes of ``petrosa_common.errors.ErrorCode``; REST adds the
status the gateway maps each code to. Both run in this process on real NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from nats.aio.client import Client as NatsClient
from petrosa_backfiller.nats_api import serve
from petrosa_common.errors import ErrorCode
from petrosa_common.naming import (
    BACKFILL_CANCEL_SUBJECT,
    BACKFILL_JOBS_GET_SUBJECT,
    BACKFILL_REQUEST_SUBJECT,
)
from petrosa_common.nats import connect_nats
from petrosa_common.postgres import PgPool, apply_migrations, create_pg_pool
from petrosa_devtools.infra import InfraUrls
from petrosa_gateway.app import create_app
from petrosa_gateway.resources import Resources
from petrosa_gateway.settings import GatewaySettings

pytestmark = pytest.mark.integration
KEY = "writer-key-0123456789"
BODY = {
    "symbol": "BTCUSDT",
    "timeframe": "1m",
    "start": "2024-01-01T00:00:00Z",
    "end": "2024-01-02T00:00:00Z",
}
STATUS = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.INVALID_PARAMETER: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNAVAILABLE: 503,
}


@dataclass(frozen=True)
class Case:
    """One bad request, as sent to each API."""

    method: str
    path: str
    rest_body: bytes | None
    subject: str
    nats_body: bytes
    code: ErrorCode


def start(body: bytes, code: ErrorCode) -> Case:
    return Case("POST", "/backfill/start", body, BACKFILL_REQUEST_SUBJECT, body, code)


def by_id(subject: str, path_id: str, json_id: Any, code: ErrorCode) -> Case:
    method, path = (
        ("GET", f"/backfill/jobs/{path_id}")
        if subject == BACKFILL_JOBS_GET_SUBJECT
        else ("POST", f"/backfill/jobs/{path_id}/cancel")
    )
    return Case(method, path, None, subject, orjson.dumps({"id": json_id}), code)


def body(**changes: Any) -> bytes:
    values = {**BODY, **changes}
    return orjson.dumps({key: value for key, value in values.items() if value is not None})


CASES = {
    "not JSON": start(b"not json", ErrorCode.BAD_REQUEST),
    "truncated JSON": start(b'{"symbol": ', ErrorCode.BAD_REQUEST),
    "no body": start(b"", ErrorCode.INVALID_PARAMETER),
    "not an object": start(b"[1]", ErrorCode.INVALID_PARAMETER),
    "bad symbol": start(body(symbol="BTC-USDT"), ErrorCode.INVALID_PARAMETER),
    "unknown timeframe": start(body(timeframe="7m"), ErrorCode.INVALID_PARAMETER),
    "unknown data type": start(body(data_type="orders"), ErrorCode.INVALID_PARAMETER),
    "no start": start(body(start=None), ErrorCode.INVALID_PARAMETER),
    "end before start": start(body(end="2023-12-01T00:00:00Z"), ErrorCode.INVALID_PARAMETER),
    "start in the future": start(
        body(start="2999-01-01T00:00:00Z", end="2999-02-01T00:00:00Z"),
        ErrorCode.INVALID_PARAMETER,
    ),
    "priority out of bounds": start(body(priority=11), ErrorCode.INVALID_PARAMETER),
    "get: id not a number": by_id(
        BACKFILL_JOBS_GET_SUBJECT, "seven", "seven", ErrorCode.INVALID_PARAMETER
    ),
    "get: id beyond 64 bits": by_id(
        BACKFILL_JOBS_GET_SUBJECT, str(2**63), 2**63, ErrorCode.INVALID_PARAMETER
    ),
    "get: unknown job": by_id(BACKFILL_JOBS_GET_SUBJECT, "987654", 987_654, ErrorCode.NOT_FOUND),
    "get: negative id": by_id(BACKFILL_JOBS_GET_SUBJECT, "-1", -1, ErrorCode.NOT_FOUND),
    "cancel: id not a number": by_id(
        BACKFILL_CANCEL_SUBJECT, "seven", "seven", ErrorCode.INVALID_PARAMETER
    ),
    "cancel: unknown job": by_id(BACKFILL_CANCEL_SUBJECT, "987654", 987_654, ErrorCode.NOT_FOUND),
}


@dataclass
class Apis:
    """The gateway (an HTTP client on it) and the backfiller's NATS API (a client of it)."""

    rest: httpx.AsyncClient
    nats: NatsClient
    resources: Resources
    store: PgPool
    """The backfiller's job store."""


@pytest.fixture
async def apis(infra_urls: InfraUrls, postgres_url: str, mongo_db_name: str) -> AsyncIterator[Apis]:
    settings = GatewaySettings(
        nats_url=infra_urls.nats_url,
        mongodb_url=infra_urls.mongodb_url,
        mongodb_database=mongo_db_name,
        postgres_url=postgres_url,
        metrics_port=0,
        api_keys={KEY: ["write"]},
        nats_query_enabled=False,
    )
    app = create_app(settings)
    pool = await create_pg_pool(postgres_url)
    await apply_migrations(pool)
    backfiller = await connect_nats(infra_urls.nats_url, name="backfiller")
    client = await connect_nats(infra_urls.nats_url, name="test-backfill-errors")
    try:
        await serve(backfiller, pool)
        async with app.router.lifespan_context(app):
            resources: Resources = app.state.resources
            await asyncio.wait_for(resources.postgres_ready.wait(), 20)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gateway", headers={"X-API-Key": KEY}
            ) as rest:
                yield Apis(rest, client, resources, pool)
    finally:
        await client.drain()
        await backfiller.drain()
        await pool.close()


async def over_rest(apis: Apis, case: Case) -> tuple[int, dict[str, Any]]:
    headers = {} if case.rest_body is None else {"Content-Type": "application/json"}
    response = await apis.rest.request(
        case.method, case.path, content=case.rest_body, headers=headers
    )
    answer: dict[str, Any] = response.json()
    return response.status_code, answer


async def over_nats(apis: Apis, case: Case) -> dict[str, Any]:
    reply = await apis.nats.request(case.subject, case.nats_body, timeout=5)
    answer: dict[str, Any] = orjson.loads(reply.data)
    return answer


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
async def test_the_same_bad_request_gets_the_same_code_on_rest_and_nats(
    apis: Apis, case: Case
) -> None:
    status, rest = await over_rest(apis, case)
    nats = await over_nats(apis, case)
    assert (status, rest["error"]) == (STATUS[case.code], case.code), rest
    assert nats["error"] == case.code, nats
    assert rest["detail"]
    assert nats["detail"]
    assert set(nats) == {"error", "detail"}


async def test_a_lost_job_store_is_unavailable_on_both(apis: Apis) -> None:
    await apis.resources.pg.close()  # the gateway's job store is gone
    await apis.store.close()  # and the backfiller's
    case = by_id(BACKFILL_JOBS_GET_SUBJECT, "1", 1, ErrorCode.UNAVAILABLE)
    status, rest = await over_rest(apis, case)
    nats = await over_nats(apis, case)
    assert (status, rest["error"]) == (503, ErrorCode.UNAVAILABLE), rest
    assert nats["error"] == ErrorCode.UNAVAILABLE, nats
