"""The CRUD contract, stated once and held by both stores: the same request gives the same
answer (records, pagination, counts, encoding) and the same error on MongoDB and PostgreSQL.

Every test runs on ``mongodb`` and on ``postgres`` against one gateway holding the same six
orders in a MongoDB collection and in a PostgreSQL table (primary key ``_id``); its PostgreSQL
sessions run in another time zone than UTC, and the replies still say ``...Z``. Writes go to
a fresh collection or table per test. What the stores cannot share is listed (and checked)
at the end: the documented store limits of docs/gateway.md.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import psycopg
import pytest
from bson import Binary
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.pytest_plugin import unique_name

from .conftest import WRITE_KEY, Gateway
from .fresh_gateway import fresh_gateway

pytestmark = pytest.mark.integration

STORES = ["mongodb", "postgres"]
W = {"X-API-Key": WRITE_KEY}
REF = uuid.UUID("12345678-1234-5678-1234-567812345678")
COLUMNS = """
    _id TEXT PRIMARY KEY, symbol TEXT, side TEXT, price DOUBLE PRECISION, qty BIGINT,
    status TEXT, at TIMESTAMPTZ, amount NUMERIC, blob BYTEA, ref UUID, note TEXT
"""
ORDERS: list[tuple[Any, ...]] = [
    ("o1", "BTCUSDT", "BUY", 50000.5, 1, "NEW", "2025-01-01T00:00:00Z", "1.25"),
    ("o2", "BTCUSDT", "SELL", 50100.0, 2, "FILLED", "2025-01-02T00:00:00Z", "2"),
    ("o3", "ETHUSDT", "BUY", 3000.0, 10, "FILLED", "2025-01-03T00:00:00Z", "0.5"),
    ("o4", "ETHUSDT", "SELL", 3100.0, 5, "CANCELED", "2025-01-04T12:00:00Z", "7"),
    ("o5", "SOLUSDT", "BUY", 150.0, 100, None, "2025-01-05T00:00:00Z", "3"),
    ("o6", "BNBUSDT", "BUY", 600.0, 3, "NEW", "2025-01-06T00:00:00Z", "4.75"),
]
NAMES = ("_id", "symbol", "side", "price", "qty", "status", "at", "amount")


def order(row: tuple[Any, ...]) -> dict[str, Any]:
    """An order as PostgreSQL holds it, in column order."""
    record = dict(zip(NAMES, row, strict=True))
    record["at"] = datetime.fromisoformat(record["at"])
    record["amount"] = Decimal(record["amount"])
    return {**record, "blob": b"\x00\x01\xff", "ref": REF, "note": "n"}


@dataclass
class Contract:
    """The gateway and the per-store setup of fresh write targets."""

    gateway: Gateway
    postgres_url: str

    async def get(self, store: str, path: str = "contract_orders", **params: Any) -> Any:
        return await self.gateway.client.get(f"/api/v1/{store}/{path}", params=params)

    def fresh(self, store: str) -> str:
        """A new, empty write target: a table on PostgreSQL (a collection is made on insert)."""
        name = unique_name("w")
        if store == "postgres":
            with psycopg.connect(self.postgres_url, autocommit=True) as conn:
                conn.execute(f"CREATE TABLE {name} ({COLUMNS})")
        return name


@pytest.fixture(scope="module")
async def contract(infra_urls: InfraUrls) -> AsyncIterator[Contract]:
    records = [order(row) for row in ORDERS]
    # Sessions in another zone: timestamptz comes back as Sao Paulo time unless converted.
    async with fresh_gateway(
        infra_urls, prefix="contract", api_keys={WRITE_KEY: ["write"]},
        postgres_query="options=-c%20TimeZone%3DAmerica%2FSao_Paulo",
    ) as fresh:  # fmt: skip
        with psycopg.connect(fresh.postgres_url, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE contract_orders ({COLUMNS})")
            with conn.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO contract_orders VALUES ({', '.join(['%s'] * 11)})",
                    [list(record.values()) for record in records],
                )
        # FerretDB has no Decimal128 (it drops the connection): the amounts are floats there,
        # as the project stores numbers; test_encoding covers Decimal128.
        documents = [
            {**record, "amount": float(record["amount"]), "ref": Binary.from_uuid(REF)}
            for record in records
        ]
        await fresh.gateway.resources.db["contract_orders"].insert_many(documents)
        yield Contract(fresh.gateway, fresh.postgres_url)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["_id"] for row in response.json()["data"]]


def refusal(response: Any) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error"], body["detail"]


def js(value: object) -> str:
    return orjson.dumps(value).decode()


# Reads


async def test_a_record_is_encoded_the_same_from_both_stores(
    contract: Contract, store: str
) -> None:
    response = await contract.get(store, filter=js({"_id": "o1"}))
    assert response.json()["data"] == [
        {
            "_id": "o1",
            "symbol": "BTCUSDT",
            "side": "BUY",
            "price": 50000.5,
            "qty": 1,
            "status": "NEW",
            "at": "2025-01-01T00:00:00Z",
            "amount": 1.25,
            "blob": base64.b64encode(b"\x00\x01\xff").decode(),
            "ref": str(REF),
            "note": "n",
        }
    ]


FILTERS: list[tuple[dict[str, Any], list[str]]] = [
    ({}, ["o1", "o2", "o3", "o4", "o5", "o6"]),
    ({"symbol": "BTCUSDT"}, ["o1", "o2"]),
    ({"symbol": {"$eq": "ETHUSDT"}, "side": "SELL"}, ["o4"]),
    ({"status": None}, ["o5"]),
    ({"status": {"$ne": "FILLED"}}, ["o1", "o4", "o5", "o6"]),
    ({"status": {"$ne": None}}, ["o1", "o2", "o3", "o4", "o6"]),
    ({"qty": {"$gt": 5}}, ["o3", "o5"]),
    ({"qty": {"$gte": 5, "$lt": 100}}, ["o3", "o4"]),
    ({"price": {"$lte": 600}}, ["o5", "o6"]),
    ({"price": 50000.5}, ["o1"]),
    ({"qty": 1.0}, ["o1"]),
    ({"amount": {"$gt": 2}}, ["o4", "o5", "o6"]),
    ({"status": {"$in": ["NEW", None]}}, ["o1", "o5", "o6"]),
    ({"status": {"$in": []}}, []),
    ({"status": {"$nin": ["NEW", "FILLED"]}}, ["o4", "o5"]),
    ({"status": {"$nin": ["NEW", None]}}, ["o2", "o3", "o4"]),
    ({"$or": [{"symbol": "SOLUSDT"}, {"status": "CANCELED"}]}, ["o4", "o5"]),
    ({"$and": [{"side": "BUY"}, {"$or": [{"qty": 1}, {"qty": {"$gte": 100}}]}]}, ["o1", "o5"]),
    ({"$or": [{"symbol": "SOLUSDT"}, {}]}, ["o1", "o2", "o3", "o4", "o5", "o6"]),
    ({"at": {"$gte": "2025-01-04"}}, ["o4", "o5", "o6"]),
    ({"at": "2025-01-04T14:00:00+02:00"}, ["o4"]),
    ({"at": {"$gt": "2025-01-04T11:59:59.999Z", "$lt": "2025-01-05"}}, ["o4"]),
    ({"at": {"$in": ["2025-01-01", "2025-01-02T03:00:00+03:00"]}}, ["o1", "o2"]),
]


@pytest.mark.parametrize(("spec", "expected"), FILTERS, ids=[js(f) for f, _ in FILTERS])
async def test_filters_select_the_same_records(
    contract: Contract, store: str, spec: dict[str, Any], expected: list[str]
) -> None:
    response = await contract.get(store, filter=js(spec))
    assert ids(response) == expected
    assert response.json()["pagination"]["total"] == len(expected)


SORTS: list[tuple[str, list[str]]] = [
    ('{"qty": -1}', ["o5", "o3", "o4", "o6", "o2", "o1"]),
    ("symbol,-price", ["o6", "o2", "o1", "o4", "o3", "o5"]),
    ("-status", ["o1", "o6", "o2", "o3", "o4", "o5"]),  # null sorts last descending
    ("status", ["o5", "o4", "o2", "o3", "o1", "o6"]),  # first ascending; ties by key
    ('[["side", "desc"], ["_id", "desc"]]', ["o4", "o2", "o6", "o5", "o3", "o1"]),
]


@pytest.mark.parametrize(("sort", "expected"), SORTS)
async def test_sorts_order_records_the_same_way(
    contract: Contract, store: str, sort: str, expected: list[str]
) -> None:
    assert ids(await contract.get(store, sort=sort)) == expected


async def test_pages_of_a_sort_with_ties_neither_overlap_nor_skip(
    contract: Contract, store: str
) -> None:
    pages = [await contract.get(store, sort="side", limit=4, offset=offset) for offset in (0, 4)]
    assert [ids(page) for page in pages] == [["o1", "o3", "o5", "o6"], ["o2", "o4"]]
    assert [page.json()["pagination"] for page in pages] == [
        {"total": 6, "limit": 4, "offset": 0, "page": 1, "pages": 2, "has_next": True,
         "has_previous": False},
        {"total": 6, "limit": 4, "offset": 4, "page": 2, "pages": 2, "has_next": False,
         "has_previous": True},
    ]  # fmt: skip


async def test_fields_project_the_same_record(contract: Contract, store: str) -> None:
    response = await contract.get(store, fields="_id,price, qty,price", limit=2)
    assert response.json()["data"] == [
        {"_id": "o1", "price": 50000.5, "qty": 1},
        {"_id": "o2", "price": 50100.0, "qty": 2},
    ]


async def test_the_legacy_query_answers_like_the_get(contract: Contract, store: str) -> None:
    legacy = await contract.gateway.client.post(
        "/api/v1/data/query",
        json={"database": store, "collection": "contract_orders", "filter": {"side": "SELL"},
              "sort": {"qty": -1}, "fields": ["_id", "qty"], "limit": 1, "offset": 1},
    )  # fmt: skip
    assert legacy.json() == {
        "data": [{"_id": "o2", "qty": 2}],
        "pagination": {"total": 2, "limit": 1, "offset": 1, "page": 2, "pages": 2,
                       "has_next": False, "has_previous": True},
    }  # fmt: skip


JS_CODE = {"body": "return 1", "args": [], "lang": "js"}
READ_REFUSALS: list[tuple[dict[str, Any], int, str, str]] = [
    ({"filter": js({"$where": "sleep(100)"})}, 400, "bad_request",
     "operator $where is not allowed at the top of a filter: it runs server-side JavaScript; "
     "allowed: $and, $or"),
    ({"filter": js({"symbol": {"$regex": "^B"}})}, 400, "bad_request",
     "operator $regex is not allowed on field 'symbol': pattern matching is outside the filter "
     "language (use a raw MongoDB query, which runs under a time limit); allowed: $eq, "
     "$exists, $gt, $gte, $in, $lt, $lte, $ne, $nin"),
    ({"filter": js({"qty": {"$gt": {"$function": JS_CODE}}})}, 400, "bad_request",
     "filter field 'qty': values must be strings, numbers, booleans or null, got dict"),
    ({"filter": js({"symbol": ["A", "B"]})}, 400, "bad_request",
     "filter field 'symbol': array equality is not supported (use $in)"),
    ({"filter": js({"qty": {"$lt": None}})}, 400, "bad_request",
     "filter field 'qty': $lt needs a value other than null"),
    ({"filter": js({"at": "2025-02-30"})}, 400, "bad_request",
     "filter field 'at': date '2025-02-30' looks like an ISO-8601 date but is not valid: day "
     "is out of range for month"),
    ({"filter": js({"at": {"$lt": "1969-12-31T23:59:59Z"}})}, 400, "bad_request",
     "filter field 'at': date 1969-12-31T23:59:59+00:00 is outside the years 1970-9999 (UTC) "
     "the stores accept"),
    ({"filter": "{nope"}, 400, "bad_request",
     "malformed JSON in 'filter': unexpected character, expected a string key: line 1 column 2 "
     "(char 1)"),
    ({"filter": "[1]"}, 400, "bad_request", "filter must be a JSON object, got list"),
    ({"sort": "qty,-qty"}, 400, "bad_request", "sort field 'qty' appears twice"),
    ({"sort": '{"qty": 2}'}, 400, "bad_request",
     "sort field 'qty': direction must be 1, -1, 'asc' or 'desc'"),
    ({"sort": js({f"f{i}": 1 for i in range(33)})}, 400, "bad_request",
     "sort has more than 32 keys"),
    ({"fields": "at,at.day"}, 400, "bad_request", "projection: paths 'at' and 'at.day' collide"),
    ({"fields": "$where"}, 400, "bad_request",
     "projection field '$where': segment '$where' must not start with '$' (operators are not "
     "field names)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "status", "error", "detail"), READ_REFUSALS, ids=[js(p) for p, *_ in READ_REFUSALS]
)
async def test_refused_reads_get_the_same_error(
    contract: Contract, store: str, params: dict[str, str], status: int, error: str, detail: str
) -> None:
    assert refusal(await contract.get(store, **params)) == (status, error, detail)


def deep(levels: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"qty": 1}
    for _ in range(levels):
        spec = {"$or": [spec]}
    return spec


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"filter": deep(17)}, "filter nests $and/$or deeper than 16 levels"),
        ({"filter": {"$or": [{"qty": i} for i in range(1000)]}},
         "filter has more than 1000 conditions"),
        ({"filter": {"qty": {"$in": list(range(10_001))}}},
         "filter field 'qty': $in lists more than 10000 values"),
        ({"fields": [f"f{i}" for i in range(201)]}, "more than 200 fields requested"),
    ],
)  # fmt: skip
async def test_the_limits_are_the_same_on_both_stores(
    contract: Contract, store: str, body: dict[str, Any], detail: str
) -> None:
    response = await contract.gateway.client.post(
        "/api/v1/data/query", json={"database": store, "collection": "contract_orders", **body}
    )
    assert refusal(response) == (400, "bad_request", detail)
    within = await contract.get(store, filter=js(deep(16)))
    assert ids(within) == ["o1"]


async def test_an_unknown_collection_is_the_same_404(contract: Contract, store: str) -> None:
    response = await contract.get(store, "no_such_thing")
    assert refusal(response) == (404, "not_found", "collection 'no_such_thing' does not exist")


# Writes


async def test_inserts_report_the_same_ids_and_duplicates(contract: Contract, store: str) -> None:
    target = contract.fresh(store)
    records = [
        {"_id": "n1", "symbol": "XRPUSDT", "qty": 1, "at": "2025-03-01T10:00:00+01:00"},
        {"_id": "n2", "symbol": "XRPUSDT", "qty": 2, "amount": 0.25},
    ]
    path = f"/api/v1/{store}/{target}"
    first = await contract.gateway.client.post(path, json={"data": records}, headers=W)
    again = await contract.gateway.client.post(path, json={"data": records[1]}, headers=W)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == {
        "inserted_count": 2, "inserted_ids": ["n1", "n2"], "duplicates": 0, "duplicate_ids": []
    }  # fmt: skip
    assert again.json() == {
        "inserted_count": 0, "inserted_ids": [], "duplicates": 1, "duplicate_ids": ["n2"]
    }  # fmt: skip
    stored = (await contract.get(store, target, fields="_id,at,amount")).json()["data"]
    # A row has every column; a document only its fields (a documented store limit).
    assert [{k: v for k, v in row.items() if v is not None} for row in stored] == [
        {"_id": "n1", "at": "2025-03-01T09:00:00Z"},
        {"_id": "n2", "amount": 0.25},
    ]


async def test_updates_count_matches_and_real_changes_the_same(
    contract: Contract, store: str
) -> None:
    target = contract.fresh(store)
    path = f"/api/v1/{store}/{target}"
    seed = [{"_id": f"u{i}", "side": "BUY" if i < 2 else "SELL", "qty": i} for i in range(3)]
    await contract.gateway.client.post(path, json={"data": seed}, headers=W)
    change = {"filter": {"side": "BUY"}, "data": {"$set": {"status": "DONE"}}}
    first = await contract.gateway.client.put(path, json=change, headers=W)
    again = await contract.gateway.client.put(path, json=change, headers=W)
    assert first.json() == {
        "matched_count": 2, "modified_count": 2, "upserted_count": 0, "upserted_id": None
    }  # fmt: skip
    assert again.json()["modified_count"] == 0  # nothing really changed
    upsert = {"filter": {"_id": "u9"}, "data": {"qty": 9}, "upsert": True}
    upserted = await contract.gateway.client.put(path, json=upsert, headers=W)
    assert upserted.json() == {
        "matched_count": 0, "modified_count": 0, "upserted_count": 1, "upserted_id": "u9"
    }  # fmt: skip
    assert ids(await contract.get(store, target, filter=js({"status": "DONE"}))) == ["u0", "u1"]


async def test_deletes_take_the_filter_in_the_body_or_as_a_parameter(
    contract: Contract, store: str
) -> None:
    target = contract.fresh(store)
    path = f"/api/v1/{store}/{target}"
    seed = [{"_id": f"d{i}", "qty": i} for i in range(4)]
    await contract.gateway.client.post(path, json={"data": seed}, headers=W)
    body = await contract.gateway.client.request(
        "DELETE", path, json={"filter": {"qty": {"$lt": 2}}}, headers=W
    )
    param = await contract.gateway.client.delete(
        path, params={"filter": js({"_id": "d3"})}, headers=W
    )
    assert (body.json(), param.json()) == ({"deleted_count": 2}, {"deleted_count": 1})
    assert ids(await contract.get(store, target)) == ["d2"]


async def test_a_batch_gives_the_same_results(contract: Contract, store: str) -> None:
    target = contract.fresh(store)
    response = await contract.gateway.client.post(
        f"/api/v1/{store}/{target}/batch",
        json={
            "operations": [
                {"type": "insert", "data": [{"_id": "b1", "qty": 1}, {"_id": "b2", "qty": 2}]},
                {"type": "update", "filter": {"qty": {"$gte": 2}}, "data": {"side": "SELL"}},
                {"type": "delete", "filter": {"_id": "b1"}},
                {"type": "insert", "data": {"_id": "b2"}},
            ]
        },
        headers=W,
    )
    body = response.json()
    # atomic: PostgreSQL always; MongoDB where the server runs transactions (a store limit)
    assert body["atomic"] is (store == "postgres")
    assert {key: body[key] for key in ("success", "completed", "failed_at", "error")} == {
        "success": True, "completed": 4, "failed_at": None, "error": None
    }  # fmt: skip
    zero = dict.fromkeys(
        ("inserted_count", "duplicates", "matched_count", "modified_count", "upserted_count",
         "deleted_count"), 0,
    )  # fmt: skip
    assert body["results"] == [
        {**zero, "index": 0, "type": "insert", "inserted_count": 2},
        {**zero, "index": 1, "type": "update", "matched_count": 1, "modified_count": 1},
        {**zero, "index": 2, "type": "delete", "deleted_count": 1},
        {**zero, "index": 3, "type": "insert", "duplicates": 1},
    ]


WRITE_REFUSALS: list[tuple[str, str, dict[str, Any], int, str, str]] = [
    ("PUT", "contract_orders", {"filter": {}, "data": {"qty": 1}}, 400, "bad_request",
     "an update needs a non-empty filter (refusing to touch every record)"),
    ("DELETE", "contract_orders", {"filter": {}}, 400, "bad_request",
     "a delete needs a non-empty filter (refusing to touch every record)"),
    ("DELETE", "contract_orders", {}, 422, "invalid_parameter", "body.filter: Field required"),
    ("PUT", "contract_orders", {"filter": {"_id": "o1"}, "data": {"$unset": {"qty": 1}}}, 400,
     "bad_request", "update data takes plain fields or {'$set': {...}} only (other update "
     "operators are not supported)"),
    ("PUT", "contract_orders", {"filter": {"_id": "o1"}, "data": {"_id": "o7"}}, 400,
     "bad_request", "an update cannot change '_id' (got field '_id')"),
    ("PUT", "contract_orders", {"filter": {"_id": "o1"}, "data": {"a": {}, "a.b": 1}}, 400,
     "bad_request", "update: paths 'a' and 'a.b' collide"),
    ("PUT", "contract_orders", {"filter": {"_id": "o1"}, "data": {"note": "2025-02-30"}}, 400,
     "bad_request", "update data: field 'note': date '2025-02-30' looks like an ISO-8601 date "
     "but is not valid: day is out of range for month"),
    ("POST", "contract_orders", {"data": {"_id": "o9", "note": {"at": "1969-12-31T23:59Z"}}},
     400, "bad_request", "record 0: field 'note.at': date 1969-12-31T23:59:00+00:00 is outside "
     "the years 1970-9999 (UTC) the stores accept"),
    ("POST", "contract_orders", {"data": []}, 400, "bad_request",
     "insert needs a record or a non-empty list of records"),
    ("POST", "contract_orders", {"data": {"_id": ["x"]}}, 400, "bad_request",
     "record 0: '_id' cannot be an array"),
    ("PUT", "schemas", {"filter": {"a": 1}, "data": {"b": 2}}, 403, "forbidden",
     "'schemas' is read-only through the CRUD API"),
    ("POST", "contract_orders/batch", {"operations": [
        {"type": "delete", "filter": {"_id": "o1"}},
        {"type": "delete", "filter": {"_id": "o2"}, "upsert": True}]}, 400, "bad_request",
     "operation 1 (delete): upsert applies to updates only"),
    ("POST", "contract_orders/batch", {"operations": [
        {"type": "insert", "data": {"_id": "z"}, "filter": {"_id": "z"}}]}, 400, "bad_request",
     "operation 0 (insert): an insert takes no filter"),
    ("POST", "contract_orders/batch", {"operations": [
        {"type": "update", "filter": {"$where": "1"}, "data": {"a": 1}}]}, 400, "bad_request",
     "operation 0 (update): operator $where is not allowed at the top of a filter: it runs "
     "server-side JavaScript; allowed: $and, $or"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error", "detail"),
    WRITE_REFUSALS,
    ids=[f"{m} {p} {js(b)[:40]}" for m, p, b, *_ in WRITE_REFUSALS],
)
async def test_refused_writes_get_the_same_error_and_change_nothing(
    contract: Contract,
    store: str,
    method: str,
    path: str,
    body: dict[str, Any],
    status: int,
    error: str,
    detail: str,
) -> None:
    before = (await contract.get(store)).json()
    response = await contract.gateway.client.request(
        method, f"/api/v1/{store}/{path}", json=body, headers=W
    )
    assert refusal(response) == (status, error, detail)
    assert (await contract.get(store)).json() == before


# The documented store limits: where the answers differ, and how.


async def test_documented_store_limits(contract: Contract, store: str) -> None:
    mongodb = store == "mongodb"
    # $exists: a PostgreSQL column always exists; NULL counts as missing.
    exists = await contract.get(store, filter=js({"status": {"$exists": True}}))
    assert len(ids(exists)) == (6 if mongodb else 5)
    # A field that is no column: PostgreSQL refuses it, MongoDB matches nothing.
    unknown = await contract.get(store, filter=js({"colour": "red"}))
    if mongodb:
        assert ids(unknown) == []
    else:
        assert refusal(unknown) == (
            400, "bad_request", "unknown column 'colour' of table 'contract_orders'"
        )  # fmt: skip
    # A projection: MongoDB always adds _id.
    projected = await contract.get(store, fields="qty", limit=1)
    assert projected.json()["data"] == ([{"_id": "o1", "qty": 1}] if mongodb else [{"qty": 1}])
    # A string for a typed column: PostgreSQL's type decides (and says why not).
    typed = await contract.get(store, filter=js({"qty": "one"}))
    assert typed.status_code == (200 if mongodb else 400)
