"""CRUD writes with ``?schema=&validate=true`` on both stores: the seed's bodies pass, one
invalid record refuses the request with every error, and nothing is written."""

from __future__ import annotations

import pytest

from .conftest import WRITE_KEY, Gateway, auth
from .test_schema_registry import CANDLE_BODY, ORDER_BODY

pytestmark = pytest.mark.integration
W = auth(WRITE_KEY)
CANDLES = "/api/v1/mongodb/candles_BTCUSDT_1m"
CHECKED = {"schema": "candle_v1", "validate": "true"}
GOOD = [
    {
        "symbol": "BTCUSDT",
        "timestamp": "2025-01-01T00:00:00Z",
        "open": 50000,
        "high": 51000,
        "low": 49000,
        "close": 50500,
        "volume": 100.5,
    },
    {
        "symbol": "BTCUSDT",
        "timestamp": "2025-01-01T01:00:00Z",
        "open": 50500,
        "high": 51500,
        "low": 49500,
        "close": 51000,
        "volume": 150.2,
    },
]
ORDERS_TABLE = """
CREATE TABLE orders (
    order_id TEXT PRIMARY KEY, symbol TEXT NOT NULL, side TEXT NOT NULL, type TEXT NOT NULL,
    status TEXT NOT NULL, quantity NUMERIC, price NUMERIC, updated_at TIMESTAMPTZ
)
"""


async def count(gateway: Gateway, path: str) -> int:
    page = await gateway.client.get(path, params={"limit": 1})
    total: int = page.json()["pagination"]["total"]
    return total


async def test_mongodb_insert_validates_every_record_first(gateway: Gateway) -> None:
    client = gateway.client
    await client.post("/schemas/mongodb/candle_v1", json=CANDLE_BODY, headers=W)
    one = await client.post(CANDLES, params=CHECKED, json={"data": GOOD[0]}, headers=W)
    assert one.status_code == 201, one.text
    both = await client.post(CANDLES, params=CHECKED, json={"data": GOOD}, headers=W)
    assert both.status_code == 201
    assert await count(gateway, CANDLES) == 2

    bad = [
        {**GOOD[0], "timestamp": "2025-01-01T02:00:00Z"},
        {**GOOD[0], "timestamp": "2025-01-01T03:00:00Z", "open": -5, "symbol": "btc"},
        {**GOOD[0], "timestamp": "not a date"},
    ]
    refused = await client.post(CANDLES, params=CHECKED, json={"data": bad}, headers=W)
    assert refused.status_code == 400
    body = refused.json()
    assert body["error"] == "bad_request"
    assert body["invalid_indices"] == [1, 2]
    paths = {(e["index"], e["path"]) for e in body["errors"]}
    assert paths == {(1, "$.open"), (1, "$.symbol"), (2, "$.timestamp")}
    assert await count(gateway, CANDLES) == 2  # not even the valid first record

    batch = {
        "operations": [
            {"type": "insert", "data": {**GOOD[0], "timestamp": "2025-01-01T05:00:00Z"}},
            {"type": "update", "filter": {"symbol": "BTCUSDT"}, "data": {"volume": -1}},
        ]
    }
    refused_batch = await client.post(f"{CANDLES}/batch", params=CHECKED, json=batch, headers=W)
    assert refused_batch.status_code == 400
    assert refused_batch.json()["operation"] == 1
    assert await count(gateway, CANDLES) == 2


async def test_postgres_update_and_insert_validate_first(gateway: Gateway) -> None:
    client = gateway.client
    async with gateway.resources.pg.connection() as conn:
        await conn.execute(ORDERS_TABLE.encode())
    await client.post("/schemas/mysql/order_v1", json=ORDER_BODY, headers=W)
    checked = {"schema": "order_v1", "validate": "true"}
    order = {
        "order_id": "12345",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "status": "NEW",
    }
    inserted = await client.post(
        "/api/v1/mysql/orders", params=checked, json={"data": order}, headers=W
    )
    assert inserted.status_code == 201, inserted.text
    # The seed's update body, verbatim: a patch is checked without `required`.
    seed_update = {
        "filter": {"order_id": "12345"},
        "data": {"status": "FILLED", "updated_at": "2025-01-01T12:00:00Z"},
    }
    updated = await client.put("/api/v1/mysql/orders", params=checked, json=seed_update, headers=W)
    assert updated.status_code == 200, updated.text

    bad_update = {"filter": {"order_id": "12345"}, "data": {"status": "LOST", "price": -1}}
    refused = await client.put(
        "/api/v1/postgres/orders", params=checked, json=bad_update, headers=W
    )
    assert refused.status_code == 400
    assert {e["path"] for e in refused.json()["errors"]} == {"$.status", "$.price"}
    bad_insert = [{**order, "order_id": "2"}, {**order, "order_id": "3", "side": "HOLD"}]
    refused_insert = await client.post(
        "/api/v1/postgres/orders", params=checked, json={"data": bad_insert}, headers=W
    )
    assert refused_insert.status_code == 400
    assert refused_insert.json()["errors"][0]["index"] == 1
    rows = (await client.get("/api/v1/postgres/orders")).json()["data"]
    assert [(r["order_id"], r["status"]) for r in rows] == [("12345", "FILLED")]


async def test_validate_without_schema_or_unknown_schema(gateway: Gateway) -> None:
    client = gateway.client
    missing = await client.post(
        CANDLES, params={"validate": "true"}, json={"data": GOOD[0]}, headers=W
    )
    assert missing.status_code == 400
    # Not strict: an unknown schema writes, with a logged warning.
    lenient = await client.post(
        CANDLES, params={"schema": "nope", "validate": "true"}, json={"data": GOOD[0]}, headers=W
    )
    assert lenient.status_code == 201
