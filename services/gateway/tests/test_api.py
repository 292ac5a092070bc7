"""The seed README's curl examples, security and error statuses, through HTTP."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from .conftest import ADMIN_KEY, READ_KEY, WRITE_KEY, Gateway, SettingsFactory, auth, start_gateway

pytestmark = pytest.mark.integration
W = auth(WRITE_KEY)


async def seed_candles(gateway: Gateway, count: int = 3) -> None:
    records = [
        {
            "symbol": "BTCUSDT",
            "timestamp": f"2025-01-01T0{i}:00:00Z",
            "open": 50000 + i,
            "high": 51000,
            "low": 49000,
            "close": 50500,
            "volume": 100.5,
        }
        for i in range(count)
    ]
    response = await gateway.client.post(
        "/api/v1/mongodb/candles_BTCUSDT_1m", json={"data": records}, headers=W
    )
    assert response.status_code == 201, response.text


async def test_seed_insert_single_and_multiple_records(gateway: Gateway) -> None:
    single = await gateway.client.post(
        "/api/v1/mongodb/candles_BTCUSDT_1m",
        json={
            "data": {
                "symbol": "BTCUSDT",
                "open": 50000,
                "high": 51000,
                "low": 49000,
                "close": 50500,
                "volume": 1000,
            }
        },
        headers=W,
    )
    assert single.status_code == 201
    assert single.json()["inserted_count"] == 1
    multiple = await gateway.client.post(
        "/api/v1/mongodb/trades_BTCUSDT",
        json={
            "data": [
                {"symbol": "BTCUSDT", "price": 50000, "quantity": 0.1},
                {"symbol": "BTCUSDT", "price": 50100, "quantity": 0.2},
            ]
        },
        headers=W,
    )
    assert multiple.json()["inserted_count"] == 2
    stored = await gateway.resources.db["trades_BTCUSDT"].count_documents({})
    assert stored == 2


async def test_resent_symbol_timestamp_batch_reports_duplicates_and_stores_no_copies(
    gateway: Gateway,
) -> None:
    await seed_candles(gateway, 3)
    again = await gateway.client.post(
        "/api/v1/mongodb/candles_BTCUSDT_1m",
        json={
            "data": [
                {"symbol": "BTCUSDT", "timestamp": f"2025-01-01T0{i}:00:00Z", "open": 1}
                for i in range(3)
            ]
        },
        headers=W,
    )
    body = again.json()
    assert (body["inserted_count"], body["duplicates"]) == (0, 3)
    assert sorted(body["duplicate_ids"]) == [
        "BTCUSDT_1735689600000",
        "BTCUSDT_1735693200000",
        "BTCUSDT_1735696800000",
    ]
    assert await gateway.resources.db["candles_BTCUSDT_1m"].count_documents({}) == 3


async def test_seed_query_filter_sort_limit_and_pagination(gateway: Gateway) -> None:
    await seed_candles(gateway, 5)
    response = await gateway.client.get(
        "/api/v1/mongodb/candles_BTCUSDT_1m",
        params={"filter": '{"symbol":"BTCUSDT"}', "sort": '{"timestamp":-1}', "limit": 2},
    )
    body = response.json()
    assert [row["open"] for row in body["data"]] == [50004, 50003]
    assert body["pagination"] == {
        "total": 5,
        "limit": 2,
        "offset": 0,
        "page": 1,
        "pages": 3,
        "has_next": True,
        "has_previous": False,
    }
    dated = await gateway.client.get(
        "/api/v1/mongodb/candles_BTCUSDT_1m",
        params={"filter": '{"timestamp": {"$gte": "2025-01-01T03:00:00Z"}}', "fields": "open"},
    )
    assert sorted(row["open"] for row in dated.json()["data"]) == [50003, 50004]


async def test_seed_batch_insert_update_delete(gateway: Gateway) -> None:
    await gateway.client.post(
        "/api/v1/mongodb/candles_BTCUSDT_1m",
        json={"data": {"symbol": "ETHUSDT", "open": 3000}},
        headers=W,
    )
    response = await gateway.client.post(
        "/api/v1/mongodb/candles_BTCUSDT_1m/batch",
        json={
            "operations": [
                {"type": "insert", "data": {"symbol": "BTCUSDT", "open": 50000}},
                {"type": "update", "filter": {"symbol": "BTCUSDT"}, "data": {"updated": True}},
                {"type": "delete", "filter": {"symbol": "ETHUSDT"}},
            ]
        },
        headers=W,
    )
    body = response.json()
    assert body["success"] is True
    assert body["completed"] == 3
    docs = await gateway.resources.db["candles_BTCUSDT_1m"].find({}, {"_id": 0}).to_list()
    assert docs == [{"symbol": "BTCUSDT", "open": 50000, "updated": True}]


async def test_put_and_delete_change_the_data(gateway: Gateway) -> None:
    await seed_candles(gateway, 3)
    put = await gateway.client.put(
        "/api/v1/mongodb/candles_BTCUSDT_1m",
        json={"filter": {"open": {"$gte": 50001}}, "data": {"flag": "x"}},
        headers=W,
    )
    assert (put.json()["matched_count"], put.json()["modified_count"]) == (2, 2)
    deleted = await gateway.client.delete(
        "/api/v1/mongodb/candles_BTCUSDT_1m", params={"filter": '{"flag": "x"}'}, headers=W
    )
    assert deleted.json() == {"deleted_count": 2}
    assert await gateway.resources.db["candles_BTCUSDT_1m"].count_documents({}) == 1


async def test_postgres_crud_and_the_mysql_alias(gateway: Gateway) -> None:
    async with gateway.resources.pg.connection() as conn:
        await conn.execute(
            "CREATE TABLE orders (order_id TEXT PRIMARY KEY, symbol TEXT, status TEXT,"
            " quantity NUMERIC, created_at TIMESTAMPTZ DEFAULT now(), updated_at TIMESTAMPTZ)"
        )
    created = await gateway.client.post(
        "/api/v1/mysql/orders",
        json={"data": [{"order_id": "12345", "symbol": "BTCUSDT", "status": "NEW", "quantity": 1}]},
        headers=W,
    )
    assert created.json()["inserted_count"] == 1
    updated = await gateway.client.put(
        "/api/v1/mysql/orders",
        json={
            "filter": {"order_id": "12345"},
            "data": {"status": "FILLED", "updated_at": "2025-01-01T12:00:00Z"},
        },
        headers=W,
    )
    assert updated.json()["modified_count"] == 1
    rows = (await gateway.client.get("/api/v1/postgres/orders")).json()["data"]
    assert rows[0]["status"] == "FILLED"
    assert rows[0]["updated_at"].startswith("2025-01-01T12:00:00")
    legacy = await gateway.client.post(
        "/api/v1/data/query",
        json={"database": "postgres", "collection": "orders", "filter": {"status": "FILLED"}},
    )
    assert legacy.json()["pagination"]["total"] == 1
    legacy_insert = await gateway.client.post(
        "/api/v1/data/insert",
        json={"database": "mongodb", "collection": "notes", "records": [{"a": 1}]},
        headers=W,
    )
    assert legacy_insert.json()["inserted_count"] == 1


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "error"),
    [
        ("GET", "/api/v1/oracle/things", {}, 400, "bad_request"),
        ("GET", "/api/v1/postgres/no_such_table", {}, 404, "not_found"),
        ("GET", "/api/v1/mongodb/no_such_collection", {}, 404, "not_found"),
        ("GET", "/api/v1/mongodb/x", {"params": {"filter": "{nope"}}, 400, "bad_request"),
        ("GET", "/api/v1/mongodb/x", {"params": {"limit": 10001}}, 422, None),
        ("POST", "/api/v1/mongodb/x", {"content": b"{not json", "headers": W}, 400, "bad_request"),
        (
            "POST",
            "/api/v1/mongodb/candles_X_1m",
            {
                "params": {"validate": "true"},
                "json": {"data": {"a": 1}},
                "headers": W,
            },
            400,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/mongodb/leader_election",
            {"json": {"data": {"a": 1}}, "headers": W},
            403,
            "forbidden",
        ),
        (
            "DELETE",
            "/api/v1/mongodb/dead_letters",
            {"params": {"filter": '{"a": 1}'}, "headers": W},
            403,
            "forbidden",
        ),
        (
            "PUT",
            "/api/v1/mongodb/schemas",
            {"json": {"filter": {"a": 1}, "data": {"b": 2}}, "headers": W},
            403,
            "forbidden",
        ),
    ],
)
async def test_errors_have_the_right_status_and_a_reason(
    gateway: Gateway,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    error: str | None,
) -> None:
    headers = kwargs.pop("headers", {})
    if "content" in kwargs:
        headers = {**headers, "Content-Type": "application/json"}
    response = await gateway.client.request(method, path, headers=headers, **kwargs)
    assert response.status_code == status, response.text
    if error:
        assert response.json()["error"] == error
        assert response.json()["detail"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-API-Key": "wrong-key"}, 401),
        ({"Authorization": "Bearer wrong-key"}, 401),
        ({"X-API-Key": READ_KEY}, 403),
        ({"X-API-Key": WRITE_KEY}, 201),
        ({"Authorization": f"Bearer {ADMIN_KEY}"}, 201),
    ],
)
async def test_writes_need_a_key_with_the_write_scope(
    gateway: Gateway, headers: dict[str, str], status: int
) -> None:
    response = await gateway.client.post(
        "/api/v1/mongodb/notes", json={"data": {"a": 1}}, headers=headers
    )
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("key", "status"), [(None, 401), (READ_KEY, 403), (WRITE_KEY, 403), (ADMIN_KEY, 200)]
)
async def test_raw_queries_need_the_admin_scope(
    gateway: Gateway, key: str | None, status: int
) -> None:
    headers = auth(key) if key else {}
    response = await gateway.client.post(
        "/api/v1/raw/postgres", json={"query": "SELECT 1 AS one"}, headers=headers
    )
    assert response.status_code == status


async def test_reads_can_require_a_key(make_gateway_settings: SettingsFactory) -> None:
    settings = make_gateway_settings(api_require_key_for_reads=True)
    async for running in start_gateway(settings):
        anonymous = await running.client.get("/data/trades", params={"pair": "BTCUSDT"})
        assert anonymous.status_code == 401
        keyed = await running.client.get(
            "/data/trades", params={"pair": "BTCUSDT"}, headers=auth(READ_KEY)
        )
        assert keyed.status_code == 200  # authorised; an empty page, there is simply no data
        assert keyed.json()["data"] == []


async def test_dev_mode_needs_no_key(make_gateway_settings: SettingsFactory) -> None:
    async for running in start_gateway(make_gateway_settings(api_dev_mode=True, api_keys={})):
        response = await running.client.post("/api/v1/mongodb/notes", json={"data": {"a": 1}})
        assert response.status_code == 201


async def test_request_bodies_over_the_limit_are_413(
    make_gateway_settings: SettingsFactory,
) -> None:
    async for running in start_gateway(make_gateway_settings(max_request_bytes=1024)):
        big = {"data": {"blob": "x" * 4096}}
        response = await running.client.post("/api/v1/mongodb/notes", json=big, headers=W)
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "payload_too_large"

        async def chunks() -> Any:  # no Content-Length: the streamed size is enforced too
            for _ in range(4):
                yield orjson.dumps({"pad": "y" * 1000})

        streamed = await running.client.post(
            "/api/v1/mongodb/notes",
            content=chunks(),
            headers={**W, "Content-Type": "application/json"},
        )
        assert streamed.status_code == 413
        assert await running.resources.db["notes"].count_documents({}) == 0


async def test_seed_raw_query_examples(gateway: Gateway) -> None:
    await seed_candles(gateway, 3)
    async with gateway.resources.pg.connection() as conn:
        await conn.execute(
            "INSERT INTO audit_logs (check_type, severity, message) VALUES ('gap', 'high', 'x')"
        )
    admin = auth(ADMIN_KEY)
    sql = await gateway.client.post(
        "/api/v1/raw/mysql",
        json={
            "query": "SELECT COUNT(*) as total FROM audit_logs "
            "WHERE timestamp > NOW() - INTERVAL 1 HOUR"
        },
        headers=admin,
    )
    assert sql.status_code == 200, sql.text
    assert sql.json()["data"] == [{"total": 1}]
    find = await gateway.client.post(
        "/api/v1/raw/mongodb",
        json={"query": 'candles_BTCUSDT_1m: {"find": {"symbol": "BTCUSDT"}, "limit": 10}'},
        headers=admin,
    )
    assert find.status_code == 200, find.text
    assert find.json()["row_count"] == 3
    await gateway.client.post(
        "/api/v1/mongodb/trades_BTCUSDT",
        json={"data": [{"symbol": "BTCUSDT", "price": 1}, {"symbol": "BTCUSDT", "price": 2}]},
        headers=W,
    )
    aggregate = await gateway.client.post(
        "/api/v1/raw/mongodb",
        json={
            "query": '{"collection": "trades_BTCUSDT", "aggregate": '
            '[{"$group": {"_id": "$symbol", "count": {"$sum": 1}}}]}'
        },
        headers=admin,
    )
    assert aggregate.json()["data"] == [{"_id": "BTCUSDT", "count": 2}]
    refused = await gateway.client.post(
        "/api/v1/raw/postgres", json={"query": "DELETE FROM audit_logs"}, headers=admin
    )
    assert refused.status_code == 400
    assert refused.json()["detail"]


async def test_cors_allows_only_the_configured_origins(
    make_gateway_settings: SettingsFactory,
) -> None:
    settings = make_gateway_settings(cors_origins="https://dash.example")
    async for running in start_gateway(settings):
        preflight = {"Access-Control-Request-Method": "GET"}
        allowed = await running.client.options(
            "/data/trades", headers={"Origin": "https://dash.example", **preflight}
        )
        assert allowed.headers["access-control-allow-origin"] == "https://dash.example"
        other = await running.client.options(
            "/data/trades", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in other.headers


async def test_reads_past_the_deadline_are_504(make_gateway_settings: SettingsFactory) -> None:
    async for running in start_gateway(make_gateway_settings(query_timeout_seconds=1e-6)):
        await running.resources.db["notes"].insert_one({"a": 1})
        response = await running.client.get("/api/v1/mongodb/notes")
        assert response.status_code == 504
        assert response.json()["error"] == "timeout"
