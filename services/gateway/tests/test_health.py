"""/health/* against real MongoDB-wire, PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from petrosa_devtools.processes import free_port
from psycopg.types.json import Jsonb

from .conftest import Gateway, SettingsFactory, start_gateway

pytestmark = pytest.mark.integration


async def wait_nats(gateway: Gateway) -> None:
    for _ in range(100):
        if gateway.resources.nats is not None and gateway.resources.nats.is_connected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the gateway never connected to NATS")


async def test_liveness_and_readiness_with_every_component_up(gateway: Gateway) -> None:
    await wait_nats(gateway)
    live = await gateway.client.get("/health/liveness")
    assert live.status_code == 200
    assert live.json()["status"] == "ok"
    ready = await gateway.client.get("/health/readiness")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "healthy"
    assert {name: c["status"] for name, c in body["components"].items()} == {
        "mongodb": "ok",
        "postgres": "ok",
        "nats": "ok",
    }


async def test_readiness_is_503_when_mongodb_is_down(
    make_gateway_settings: SettingsFactory,
) -> None:
    settings = make_gateway_settings(
        mongodb_url=f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=500"
    )
    async for running in start_gateway(settings):
        response = await running.client.get("/health/readiness")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unhealthy"
        assert body["components"]["mongodb"]["status"] == "error"
        assert body["components"]["mongodb"]["error"]
        assert body["components"]["postgres"]["status"] == "ok"
        data = await running.client.get("/data/trades", params={"pair": "BTCUSDT"})
        assert data.status_code == 503
        assert data.json()["error"] == "unavailable"


async def test_databases_and_connections_report_real_numbers(gateway: Gateway) -> None:
    await wait_nats(gateway)
    databases = (await gateway.client.get("/health/databases")).json()["databases"]
    assert databases["mongodb"]["connected"] is True
    assert databases["mongodb"]["version"]
    assert databases["mongodb"]["latency_ms"] >= 0
    assert databases["postgres"]["version"].split(".")[0].isdigit()
    connections = (await gateway.client.get("/health/connections")).json()
    assert connections["postgres"]["pool_max"] == gateway.resources.settings.postgres_pool_max_size
    assert connections["postgres"]["pool_size"] >= 1
    assert connections["mongodb"]["open"] >= 1
    assert connections["mongodb"]["created_total"] >= connections["mongodb"]["open"]
    assert connections["nats"]["connected"] is True


async def insert_health(gateway: Gateway, dataset: str, level: str, at: datetime) -> None:
    symbol, timeframe = dataset.split("_")[1:]
    async with gateway.resources.pg.connection() as conn:
        await conn.execute(
            "INSERT INTO health_metrics (timestamp, dataset_id, symbol, timeframe, completeness,"
            " freshness, consistency, quality, level, gaps, duplicates, record_count, details)"
            " VALUES (%s, %s, %s, %s, 100, 50, 75, 80, %s, 2, 1, 1440, %s)",
            (at, dataset, symbol, timeframe, level, Jsonb({"note": "test"})),
        )


async def test_summary_counts_each_dataset_by_its_latest_level(gateway: Gateway) -> None:
    empty = (await gateway.client.get("/health/summary")).json()
    assert empty == {
        "datasets_total": 0,
        "datasets_scored": 0,
        "levels": {"healthy": 0, "degraded": 0, "unhealthy": 0, "critical": 0},
        "retention": {"last_run": None, "last_completed_at": None, "deleted_last_24h": 0},
    }
    now = datetime.now(UTC)
    await insert_health(gateway, "candles_BTCUSDT_1m", "critical", now - timedelta(hours=1))
    await insert_health(gateway, "candles_BTCUSDT_1m", "healthy", now)
    await insert_health(gateway, "candles_ETHUSDT_1h", "degraded", now)
    summary = (await gateway.client.get("/health/summary")).json()
    assert summary["datasets_scored"] == 2
    assert summary["levels"] == {"healthy": 1, "degraded": 1, "unhealthy": 0, "critical": 0}


async def insert_retention_run(
    gateway: Gateway, started: datetime, status: str, deleted: int, error: str | None = None
) -> None:
    async with gateway.resources.pg.connection() as conn:
        await conn.execute(
            "INSERT INTO retention_runs (started_at, finished_at, duration_seconds, status,"
            " deleted, leader_term, pod_id, error) VALUES (%s, %s, 2.5, %s, %s, 3, 'pod-a', %s)",
            (started, started + timedelta(seconds=2.5), status, deleted, error),
        )


async def test_summary_reports_the_latest_retention_runs(gateway: Gateway) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await insert_retention_run(gateway, now - timedelta(days=2), "completed", 1000)
    await insert_retention_run(gateway, now - timedelta(hours=2), "completed", 100)
    await insert_retention_run(gateway, now - timedelta(minutes=1), "aborted", 5, "lease lost")
    retention = (await gateway.client.get("/health/summary")).json()["retention"]
    assert retention == {
        "last_run": {
            "started_at": (now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
            "finished_at": (now - timedelta(seconds=57.5)).isoformat().replace("+00:00", "Z"),
            "duration_seconds": 2.5,
            "status": "aborted",
            "deleted": 5,
            "error": "lease lost",
        },
        "last_completed_at": (now - timedelta(hours=2) + timedelta(seconds=2.5))
        .isoformat()
        .replace("+00:00", "Z"),
        "deleted_last_24h": 105,
    }


async def test_dataset_health_is_404_when_unknown_then_the_latest_metrics(
    gateway: Gateway,
) -> None:
    params = {"pair": "BTCUSDT", "period": "1m"}
    unknown = await gateway.client.get("/health", params=params)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "not_found"
    async with gateway.resources.pg.connection() as conn:
        await conn.execute(
            "INSERT INTO datasets (id, kind, symbol, timeframe, collection)"
            " VALUES ('candles_BTCUSDT_1m', 'candles', 'BTCUSDT', '1m', 'candles_BTCUSDT_1m')"
        )
    unscored = await gateway.client.get("/health", params=params)
    assert unscored.status_code == 200
    assert unscored.json()["metrics"] is None
    await insert_health(gateway, "candles_BTCUSDT_1m", "degraded", datetime.now(UTC))
    metrics = (await gateway.client.get("/health", params=params)).json()["metrics"]
    assert (metrics["completeness"], metrics["freshness"], metrics["quality"]) == (100, 50, 80)
    assert metrics["level"] == "degraded"
    bad = await gateway.client.get("/health", params={"pair": "BTCUSDT", "period": "7m"})
    assert bad.status_code == 422


async def test_leader_and_audit_status_read_what_the_auditor_writes(gateway: Gateway) -> None:
    assert (await gateway.client.get("/health/leader")).json() == {"leases": []}
    assert (await gateway.client.get("/health/audit-status")).json() == {"last_cycle": None}
    now = datetime.now(UTC).replace(microsecond=0)
    await gateway.resources.db["leader_election"].insert_one(
        {
            "_id": "auditor",
            "status": "leader",
            "pod_id": "pod-a",
            "term": 7,
            "elected_at": now,
            "last_heartbeat": now,
            "expires_at": now + timedelta(seconds=30),
        }
    )
    async with gateway.resources.pg.connection() as conn:
        await conn.execute(
            "INSERT INTO audit_cycles (started_at, finished_at, duration_seconds,"
            " datasets_audited, gaps, duplicates, errors, leader_term, pod_id)"
            " VALUES (%s, %s, 1.5, 48, 3, 1, 0, 7, 'pod-a')",
            (now - timedelta(seconds=2), now),
        )
    (lease,) = (await gateway.client.get("/health/leader")).json()["leases"]
    assert (lease["role"], lease["holder"], lease["term"], lease["expired"]) == (
        "auditor",
        "pod-a",
        7,
        False,
    )
    cycle = (await gateway.client.get("/health/audit-status")).json()["last_cycle"]
    assert (cycle["datasets_audited"], cycle["gaps"], cycle["leader_term"]) == (48, 3, 7)


async def test_metrics_count_requests_by_route_template(gateway: Gateway) -> None:
    await gateway.client.get("/health/liveness")
    await gateway.client.get("/data/candles", params={"pair": "NOPEUSDT", "period": "1m"})
    text = (await gateway.client.get("/metrics")).text
    assert (
        'data_manager_requests_total{endpoint="/health/liveness",method="GET",status="200"}' in text
    )
    assert 'endpoint="/data/candles",method="GET",status="200"' in text
    for name in (
        "data_manager_request_duration_seconds_bucket",
        "data_manager_database_operations_total",
        "data_manager_active_connections",
    ):
        assert name in text


async def test_metric_labels_take_known_values_only(gateway: Gateway) -> None:
    await gateway.client.request("FOOBAR", "/health/liveness")
    await gateway.client.get("/no/such/route/" + "x" * 500)
    text = (await gateway.client.get("/metrics")).text
    assert "FOOBAR" not in text
    assert "x" * 500 not in text
    assert 'endpoint="/health/liveness",method="other",status="405"' in text
    assert 'endpoint="unmatched",method="GET",status="404"' in text


async def test_health_over_nats_request_reply(gateway: Gateway) -> None:
    await wait_nats(gateway)
    nc = gateway.resources.nats
    assert nc is not None
    reply = await nc.request("data_manager.query.health", b"{}", timeout=5)
    assert orjson.loads(reply.data)["status"] == "healthy"
