"""Every CRUD call of the gateway's real clients, sent the way they send it.

Two clients call the generic CRUD API:

* ``data_manager_client.DataManagerClient`` (the shared client library): httpx, an
  ``Authorization: Bearer <key>`` header when it has a key, ``limit``/``offset`` always sent
  (defaults 100/0), ``filter`` and ``sort`` as ``json.dumps`` text and ``fields`` joined with
  commas, only when given; ``{"data": ...}`` to insert (``schema``/``validate`` parameters only
  when set), ``{"filter", "data", "upsert"}`` to update, ``{"filter": ...}`` in the body of a
  DELETE, ``{"operations": [...]}`` for a batch. Database ``mysql`` or ``mongodb``.
* the trade engine's ``BaseDataManagerClient``: the legacy ``POST /api/v1/data/query`` and
  ``/api/v1/data/insert`` (only the keys it was given), the generic PUT (``upsert`` false or
  true) and DELETE with ``{"filter": ...}`` in the body, no key (a development-mode gateway,
  as compose runs it); any 2xx is success, and it reads ``data``, ``pagination``,
  ``inserted_count``, ``modified_count``, ``upserted_count``, ``upserted_id``,
  ``deleted_count``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from .conftest import WRITE_KEY, Gateway, SettingsFactory, start_gateway

pytestmark = pytest.mark.integration

ORDERS_DDL = (
    "CREATE TABLE orders (order_id TEXT PRIMARY KEY, symbol TEXT, status TEXT, quantity NUMERIC,"
    " created_at TIMESTAMPTZ DEFAULT now(), updated_at TIMESTAMPTZ)"
)


class SharedClient:
    """How ``data_manager_client.DataManagerClient`` builds its CRUD requests."""

    def __init__(self, http: httpx.AsyncClient, api_key: str | None) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def _request(
        self, method: str, endpoint: str, params: dict[str, Any] | None = None,
        json_data: dict[str, Any] | None = None,
    ) -> httpx.Response:  # fmt: skip
        return await self.http.request(
            method=method, url=endpoint, params=params, json=json_data, headers=self.headers
        )

    async def query(
        self, database: str, collection: str, filter: dict[str, Any] | None = None,
        sort: dict[str, int] | None = None, limit: int = 100, offset: int = 0,
        fields: list[str] | None = None,
    ) -> httpx.Response:  # fmt: skip
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if filter:
            params["filter"] = json.dumps(filter)
        if sort:
            params["sort"] = json.dumps(sort)
        if fields:
            params["fields"] = ",".join(fields)
        return await self._request("GET", f"/api/v1/{database}/{collection}", params=params)

    async def insert(self, database: str, collection: str, data: Any) -> httpx.Response:
        return await self._request(
            "POST", f"/api/v1/{database}/{collection}", params={}, json_data={"data": data}
        )

    async def update(
        self, database: str, collection: str, filter: dict[str, Any], data: dict[str, Any],
        upsert: bool = False,
    ) -> httpx.Response:  # fmt: skip
        body = {"filter": filter, "data": data, "upsert": upsert}
        return await self._request(
            "PUT", f"/api/v1/{database}/{collection}", params={}, json_data=body
        )

    async def delete(
        self, database: str, collection: str, filter: dict[str, Any]
    ) -> httpx.Response:
        return await self._request(
            "DELETE", f"/api/v1/{database}/{collection}", json_data={"filter": filter}
        )

    async def batch(
        self, database: str, collection: str, operations: list[dict[str, Any]]
    ) -> httpx.Response:
        return await self._request(
            "POST", f"/api/v1/{database}/{collection}/batch", json_data={"operations": operations}
        )


class TradeEngineClient:
    """How the trade engine's ``BaseDataManagerClient`` builds its requests (no key)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def query(self, database: str, collection: str, **kwargs: Any) -> httpx.Response:
        body: dict[str, Any] = {"database": database, "collection": collection}
        for key in ("filter", "sort", "limit", "offset", "fields"):
            if kwargs.get(key) is not None:
                body[key] = kwargs[key]
        return await self.http.request("POST", "/api/v1/data/query", json=body)

    async def insert(self, database: str, collection: str, data: Any) -> httpx.Response:
        records = data if isinstance(data, list) else [data]
        body = {"database": database, "collection": collection, "records": records}
        return await self.http.request("POST", "/api/v1/data/insert", json=body)

    async def upsert_one(
        self, database: str, collection: str, filter: dict[str, Any], record: dict[str, Any],
        *, upsert: bool = True,
    ) -> httpx.Response:  # fmt: skip
        body = {"filter": filter, "data": record, "upsert": upsert}
        return await self.http.request("PUT", f"/api/v1/{database}/{collection}", json=body)

    async def delete_one(
        self, database: str, collection: str, filter: dict[str, Any]
    ) -> httpx.Response:
        body = {"filter": filter}
        return await self.http.request("DELETE", f"/api/v1/{database}/{collection}", json=body)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def create_orders(gateway: Gateway) -> None:
    async with gateway.resources.pg.connection() as conn:
        await conn.execute(ORDERS_DDL)


@pytest.mark.parametrize("database", ["mongodb", "mysql"])
async def test_the_shared_clients_calls_work_on_both_databases(
    gateway: Gateway, database: str
) -> None:
    await create_orders(gateway)
    client = SharedClient(gateway.client, WRITE_KEY)
    orders = [
        {"order_id": "1", "symbol": "BTCUSDT", "status": "NEW", "quantity": 1},
        {"order_id": "2", "symbol": "ETHUSDT", "status": "NEW", "quantity": 2},
    ]
    if database == "mongodb":
        orders = [{"_id": order["order_id"], **order} for order in orders]
    inserted = ok(await client.insert(database, "orders", orders), 201)
    assert (inserted["inserted_count"], inserted["duplicates"]) == (2, 0)
    again = ok(await client.insert(database, "orders", orders[0]), 201)
    assert (again["inserted_count"], again["duplicates"]) == (0, 1)

    updated = ok(await client.update(database, "orders", {"order_id": "1"}, {"status": "FILLED"}))
    assert (updated["matched_count"], updated["modified_count"]) == (1, 1)
    page = ok(
        await client.query(
            database, "orders", filter={"status": "FILLED"}, sort={"order_id": -1},
            fields=["order_id", "status"],
        )
    )  # fmt: skip
    assert [(row["order_id"], row["status"]) for row in page["data"]] == [("1", "FILLED")]
    assert page["pagination"]["total"] == 1
    everything = ok(await client.query(database, "orders"))  # no filter, limit/offset defaults
    assert (everything["pagination"]["limit"], everything["pagination"]["total"]) == (100, 2)

    batch = ok(
        await client.batch(
            database, "orders",
            [{"type": "update", "filter": {"order_id": "2"}, "data": {"status": "CANCELED"}},
             {"type": "delete", "filter": {"status": "CANCELED"}}],
        )
    )  # fmt: skip
    assert (batch["success"], [r["type"] for r in batch["results"]]) == (True, ["update", "delete"])
    deleted = ok(await client.delete(database, "orders", {"order_id": "1"}))
    assert deleted == {"deleted_count": 1}
    assert ok(await client.query(database, "orders"))["data"] == []


async def test_the_shared_clients_delete_without_a_filter_is_refused(gateway: Gateway) -> None:
    client = SharedClient(gateway.client, WRITE_KEY)
    await gateway.resources.db["orders"].insert_one({"_id": "keep"})
    refused = await client.delete("mongodb", "orders", {})
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "bad_request",
        "detail": "a delete needs a non-empty filter (refusing to touch every record)",
    }
    assert await gateway.resources.db["orders"].count_documents({}) == 1


async def test_the_shared_clients_writes_without_a_key_are_refused(gateway: Gateway) -> None:
    client = SharedClient(gateway.client, None)
    response = await client.delete("mongodb", "orders", {"_id": "x"})
    assert response.status_code == 401


@pytest.fixture
async def dev_gateway(make_gateway_settings: SettingsFactory) -> AsyncIterator[Gateway]:
    """The gateway as compose runs it (development mode: no key needed)."""
    async for running in start_gateway(make_gateway_settings(api_dev_mode=True, api_keys={})):
        yield running


@pytest.mark.parametrize("database", ["mongodb", "mysql"])
async def test_the_trade_engines_calls_work_on_both_databases(
    dev_gateway: Gateway, database: str
) -> None:
    await create_orders(dev_gateway)
    client = TradeEngineClient(dev_gateway.client)
    record = {"order_id": "7", "symbol": "BTCUSDT", "status": "NEW", "quantity": 1.5}
    assert ok(await client.insert(database, "orders", record))["inserted_count"] == 1

    upserted = ok(await client.upsert_one(database, "orders", {"order_id": "8"}, {"quantity": 2}))
    assert (upserted["modified_count"], upserted["upserted_count"]) == (0, 1)
    assert upserted["upserted_id"] is not None
    changed = ok(
        await client.upsert_one(
            database, "orders", {"order_id": "7"}, {"status": "FILLED"}, upsert=False
        )
    )
    assert changed["modified_count"] == 1

    page = ok(
        await client.query(
            database, "orders", filter={"status": "FILLED"}, sort={"order_id": 1}, limit=10
        )
    )
    assert [row["order_id"] for row in page["data"]] == ["7"]
    assert page["pagination"]["total"] == 1
    assert len(ok(await client.query(database, "orders", limit=1))["data"]) == 1

    assert ok(await client.delete_one(database, "orders", {"order_id": "8"})) == {
        "deleted_count": 1
    }
    remaining = ok(await client.query(database, "orders"))["data"]
    assert [row["order_id"] for row in remaining] == ["7"]
